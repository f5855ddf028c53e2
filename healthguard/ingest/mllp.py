"""HL7 v2 over MLLP: an asyncio server answering every ORU^R01 with an ACK.

Framing: ``0x0B <message> 0x1C 0x0D``. Per message: parse (healthguard.ingest.hl7) ->
resolve the patient by PID-3 MRN (blind index) and check PV1-3 against the patient's
current bed when both ward and bed are given -> store the readings (one bulk statement) ->
COMMIT -> send the ACK (AA only after the commit) -> request scoring.

- Database work runs in a small thread pool (``DB_THREADS``), so many connections are
  served concurrently; one connection's messages are handled in order.
- Broken framing (bytes outside a frame) gets an AR and the connection is closed with a log
  line; a frame larger than ``MAX_MESSAGE_BYTES`` (1 MiB) likewise; a connection closed
  mid-frame is logged. Nothing a client sends can crash the server.
- Database unreachable: AR ("retry later"), never AA.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from healthguard.db import session_scope
from healthguard.ingest.hl7 import (
    INTERNAL_ERROR,
    UNKNOWN_KEY,
    Hl7Error,
    Hl7Reject,
    OruMessage,
    build_ack,
    header_of_text,
    parse_oru,
    reject_ack,
)
from healthguard.ingest.store import Stored, after_commit_scoring, store_readings
from healthguard.models import Admission, Bed, Ward
from healthguard.patients.phi import find_by_mrn, index_key_from_settings
from healthguard.settings import Settings

log = logging.getLogger(__name__)

START, END, CR = b"\x0b", b"\x1c", b"\x0d"
MAX_MESSAGE_BYTES = 1024 * 1024
DB_THREADS = 8
DEFAULT_PORT = 2575


def frame(text: str) -> bytes:
    return START + text.encode("utf-8") + END + CR


def _current_bed(session: Session, patient_id: uuid.UUID) -> tuple[str, str] | None:
    row = session.exec(
        select(Ward.code, Bed.label)
        .join(Bed, col(Bed.ward_id) == col(Ward.id))
        .join(Admission, col(Admission.bed_id) == col(Bed.id))
        .where(Admission.patient_id == patient_id, col(Admission.discharged_at).is_(None))
    ).first()
    return None if row is None else (row[0], row[1])


def handle_message(data: bytes, index_key: str) -> tuple[str, Stored]:
    """The ACK for one message (its readings committed before an AA or AE is returned) and
    what was stored (the patients to score). Never raises."""
    now = datetime.now(UTC)
    try:
        oru = parse_oru(data, now)
    except Hl7Reject as reject:
        log.info("HL7 message refused (AR): %s", reject.message)
        return reject_ack(reject, now), Stored()
    except Exception:  # a bug must not take the listener down: refuse and log it
        log.exception("HL7 message could not be handled")
        header = header_of_text(data.decode("utf-8", errors="replace"))
        return build_ack(header, "AR", now, "internal error; it has been logged"), Stored()
    try:
        return _store(oru, index_key, now)
    except sa.exc.SQLAlchemyError as exc:
        log.warning("HL7 message %s not stored, database error: %s", oru.header.control_id, exc)
        text = "the readings could not be stored right now; nothing was kept, resend later"
        return build_ack(
            oru.header, "AR", now, text, [Hl7Error("MSH", INTERNAL_ERROR, text)]
        ), Stored()


def _store(oru: OruMessage, index_key: str, now: datetime) -> tuple[str, Stored]:
    errors = list(oru.errors)
    new = Stored()
    stored = 0
    if oru.mrn is not None:
        with session_scope() as session:
            patient = find_by_mrn(session, oru.mrn, index_key)
            if patient is None or patient.id is None:
                errors.insert(
                    0, Hl7Error("PID^1^3", UNKNOWN_KEY, f"PID-3: unknown patient MRN {oru.mrn!r}")
                )
            else:
                mismatch = _bed_mismatch(session, patient.id, oru)
                if mismatch:
                    errors.insert(0, Hl7Error("PV1^1^3", UNKNOWN_KEY, mismatch))
                else:
                    readings = oru.readings(patient.id)
                    new = store_readings(session, readings, now)
                    stored = len(readings)
        # committed here (session_scope), before any ACK is built
    notes = "; ".join(oru.notes)
    if errors:
        text = f"{stored} reading(s) stored, {len(errors)} error(s)"
        text += f"; {notes}" if notes else ""
        return build_ack(oru.header, "AE", now, text, errors), new
    text = f"{stored} reading(s) stored" + (f"; {notes}" if notes else "")
    return build_ack(oru.header, "AA", now, text), new


def _bed_mismatch(session: Session, patient_id: uuid.UUID, oru: OruMessage) -> str | None:
    """Why PV1-3 contradicts the patient's current bed (None: consistent or unknown)."""
    if not (oru.ward and oru.bed):
        return None
    current = _current_bed(session, patient_id)
    if current is None:
        return None
    ward, bed = current
    if (oru.ward.upper(), oru.bed.upper()) != (ward.upper(), bed.upper()):
        return (
            f"PV1-3: location {oru.ward}^{oru.room or ''}^{oru.bed} does not match the bed of "
            f"patient MRN {oru.mrn!r}; nothing stored (check the monitor's bed assignment)"
        )
    return None


def allowed_networks(cidrs: list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The networks of HEALTHGUARD_MLLP_ALLOWED_NETWORKS (ValueError naming a bad entry)."""
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError as exc:
            message = f"HEALTHGUARD_MLLP_ALLOWED_NETWORKS: {cidr!r} is not a network"
            raise ValueError(message) from exc
    return networks


def peer_allowed(
    peer: object, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]
) -> bool:
    """Whether a connection from `peer` ((host, port, ...) of the socket) is accepted: any peer
    when no network is configured, else only one inside a configured network."""
    if not networks:
        return True
    try:
        address = ipaddress.ip_address(str(peer[0]))  # type: ignore[index]
    except (TypeError, IndexError, ValueError):
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


class MllpServer:
    """The MLLP listener; ``start()`` inside a running event loop."""

    def __init__(self, host: str, port: int, settings: Settings) -> None:
        self.host, self.port, self.settings = host, port, settings
        self.index_key = index_key_from_settings(settings)
        self.allowed = allowed_networks(settings.mllp_allowed_networks)
        self.pool = ThreadPoolExecutor(DB_THREADS, thread_name_prefix="mllp-db")
        self.server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> asyncio.Server:
        self.server = await asyncio.start_server(
            self._connection, self.host, self.port, limit=MAX_MESSAGE_BYTES + 1024
        )
        sockets = self.server.sockets or ()
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        log.info("MLLP listening on %s:%d", self.host, self.port)
        return self.server

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            for writer in list(self._writers):
                writer.close()  # its handler sees the end of the stream and returns
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self.server.wait_closed()
        self.pool.shutdown(wait=True)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        if not peer_allowed(peer, self.allowed):
            log.warning("MLLP %s: refused, not in HEALTHGUARD_MLLP_ALLOWED_NETWORKS", peer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            return
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._writers.add(writer)
        try:
            await self._serve(reader, writer, peer)
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            log.info("MLLP %s: connection lost (%s)", peer, exc)
        except Exception:
            log.exception("MLLP %s: connection failed", peer)
        finally:
            if task is not None:
                self._tasks.discard(task)
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _refuse(self, writer: asyncio.StreamWriter, reason: str, head: bytes) -> None:
        now = datetime.now(UTC)
        header = header_of_text(head.decode("utf-8", errors="replace"))
        writer.write(
            frame(build_ack(header, "AR", now, reason, [Hl7Error("MSH", INTERNAL_ERROR, reason)]))
        )
        with contextlib.suppress(Exception):
            await writer.drain()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: object
    ) -> None:
        loop = asyncio.get_running_loop()
        buffer = bytearray()
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                if buffer.strip(b"\r\n \t"):
                    log.warning(
                        "MLLP %s: closed mid-message (%d bytes unframed)", peer, len(buffer)
                    )
                return
            buffer += chunk
            while True:
                stripped = buffer.lstrip(b"\r\n \t")
                if not stripped:
                    buffer.clear()
                    break
                if stripped[:1] != START:
                    log.warning("MLLP %s: broken framing (no 0x0B start block); closing", peer)
                    await self._refuse(
                        writer,
                        "broken MLLP framing: a message must start with 0x0B",
                        bytes(stripped[:512]),
                    )
                    return
                end = stripped.find(END)
                if end < 0:
                    if len(stripped) > MAX_MESSAGE_BYTES:
                        log.warning(
                            "MLLP %s: message over %d bytes; closing", peer, MAX_MESSAGE_BYTES
                        )
                        await self._refuse(
                            writer,
                            f"message larger than the limit of {MAX_MESSAGE_BYTES} bytes",
                            bytes(stripped[1:513]),
                        )
                        return
                    buffer[:] = stripped
                    break
                message = bytes(stripped[1:end])
                rest = stripped[end + 1 :]
                if rest[:1] == CR:
                    rest = rest[1:]
                buffer[:] = rest
                if len(message) > MAX_MESSAGE_BYTES:
                    await self._refuse(
                        writer,
                        f"message larger than the limit of {MAX_MESSAGE_BYTES} bytes",
                        message[:512],
                    )
                    return
                ack, new = await loop.run_in_executor(
                    self.pool, handle_message, message, self.index_key
                )
                writer.write(frame(ack))
                await writer.drain()
                if new:
                    await loop.run_in_executor(
                        self.pool, after_commit_scoring, new.patient_ids, new.urgent
                    )


async def _serve_forever(host: str, port: int, settings: Settings) -> None:
    server = MllpServer(host, port, settings)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.close()


def run_mllp_server(host: str, port: int, settings: Settings) -> None:
    """Serve MLLP on host:port until SIGINT/SIGTERM."""
    asyncio.run(_serve_forever(host, port, settings))


def cmd_mllp(settings: Settings, host: str = "0.0.0.0", port: int = DEFAULT_PORT) -> int:
    """`healthguard mllp`: the HL7 v2 listener (exit status)."""
    try:
        run_mllp_server(host, port, settings)
    except OSError as exc:
        log.error("MLLP listener could not start on %s:%d: %s", host, port, exc)
        print(f"healthguard mllp: cannot listen on {host}:{port}: {exc}")
        return 1
    except KeyboardInterrupt:
        pass
    return 0


@contextlib.contextmanager
def background_mllp_server(
    settings: Settings, host: str = "127.0.0.1", port: int = 0
) -> Iterator[MllpServer]:
    """An MLLP server on its own event loop thread (tests, benchmarks); port 0 picks a free
    port (read ``server.port``)."""
    loop = asyncio.new_event_loop()
    server = MllpServer(host, port, settings)
    thread = threading.Thread(target=loop.run_forever, name="mllp-loop", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(timeout=30)
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()
