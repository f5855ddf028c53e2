/* "When the network drops" on the /my page: <hg-offline-list kit="..."> (and, on every page
 * that loads this file, clearing what the phone keeps when the person signs out).
 *
 * The Reflex page talks over a websocket; without a network its event handlers cannot run,
 * so this is plain JavaScript:
 *
 * - the page gives the element its "offline kit" (MyAlarmsState.offline_kit, built by
 *   healthguard.ui.states.my_alarms.offline_kit): the list as last shown (patient initials
 *   only) with, per card and answer, a single-use answer token of this person (valid a few
 *   minutes, the same kind as an email's or a push notification's buttons). The element keeps
 *   the newest kit in Cache Storage ("hg-device-v1"), and asks the page for a fresh one (a
 *   click on itself: MyAlarmsState.renew_offline_kit) when the list on the screen changed or
 *   the tokens got old;
 * - offline (navigator.onLine false, or a send failed), it hides the live list, shows a
 *   banner with the time of the last update (hospital local time) and the kept list with
 *   ACK / ESCALATE / DECLINE; a tap is queued on the phone (Cache Storage, with a
 *   client-made id), one answer per incident;
 * - back online, it replays the queue to POST /answer (the token is the credential; the one
 *   answer service) and shows each result in words: done, already acknowledged by someone
 *   else (nothing to do), or not sent and why. A token is used once, so an answer is never
 *   applied twice, even if a reply was lost and the answer is sent again;
 * - it registers /sw.js (assets/sw.js), which keeps the app shell of /my for a reload
 *   offline, and tells it which files the page loaded;
 * - it shows "alerts turned off on this phone" when the service worker saw the browser drop
 *   the push subscription (pushsubscriptionchange).
 * A click on "Sign out" deletes the kit, the queue and the cached app shell.
 */
(() => {
  "use strict";
  if (window.customElements === undefined || customElements.get("hg-offline-list")) return;

  const STORE = "hg-device-v1"; // the kit, the queue, the results, the push note
  const SHELL_PREFIX = "hg-shell-"; // the service worker's app-shell cache(s)
  const KEYS = {
    kit: "/__hg/offline/kit",
    queue: "/__hg/offline/queue",
    results: "/__hg/offline/results",
    pushLost: "/__hg/offline/push-lost",
  };
  const KEEP_LIST_MS = 12 * 3600 * 1000; // a kept list older than a shift is deleted
  const KEEP_RESULT_MS = 30 * 60 * 1000;
  const RENEW_GAP_MS = 3000;
  const ANSWER_PATH = "/answer";
  const LABELS = { acknowledge: "ACK", escalate: "ESCALATE", decline: "DECLINE" };
  const DONE = { acknowledge: "Acknowledged", escalate: "Escalated", decline: "Declined" };
  const COLOURS = { acknowledge: "#15803d", escalate: "#b45309", decline: "#4b5563" };
  const LIVE_STYLE_ID = "hg-offline-style";
  const LIVE_STYLE = "html[data-hg-offline] .hg-live-list { display: none !important; }";

  const STYLE = `
    :host { display: block; }
    [hidden] { display: none !important; }
    .banner { background: #7c2d12; color: #ffffff; padding: 0.6rem 0.75rem; border-radius: 8px;
      margin: 0 0 0.75rem; font-size: 0.95rem; }
    .banner strong { display: block; font-size: 1.05rem; }
    .note { background: #fef3c7; color: #111827; padding: 0.5rem; border-radius: 6px;
      margin: 0 0 0.75rem; }
    ul.results { list-style: none; padding: 0; margin: 0 0 0.75rem; display: flex;
      flex-direction: column; gap: 0.4rem; }
    ul.results li { padding: 0.5rem; border-radius: 6px; background: #ecfdf5; color: #064e3b; }
    ul.results li.conflict { background: #fef3c7; color: #111827; }
    ul.results li.error { background: #fee2e2; color: #7f1d1d; }
    .list { display: flex; flex-direction: column; gap: 0.75rem; }
    article { background: #ffffff; border-left: 6px solid #6b7280; border-radius: 8px;
      padding: 0.75rem; color: #111827; }
    article.P0, article.P1 { border-left-color: #b91c1c; }
    article.P2 { border-left-color: #b45309; }
    .top { display: flex; gap: 0.5rem; align-items: center; flex-wrap: wrap; }
    .badge { background: #374151; color: #ffffff; font-weight: 700; padding: 0.15rem 0.5rem;
      border-radius: 4px; }
    .P0 .badge, .P1 .badge { background: #b91c1c; }
    .P2 .badge { background: #b45309; }
    .muted { color: #4b5563; }
    h2 { margin: 0.35rem 0; font-size: 1.1rem; }
    p { margin: 0 0 0.5rem; font-size: 0.95rem; overflow-wrap: anywhere; }
    .queued { font-weight: 700; color: #7c2d12; }
    .buttons { display: flex; gap: 0.5rem; }
    button { min-height: 48px; flex: 1 1 0; font-size: 1rem; font-weight: 700; border: none;
      border-radius: 8px; cursor: pointer; color: #ffffff; }
    button:focus-visible { outline: 3px solid #1d4ed8; outline-offset: 2px; }`;

  // --- what the phone keeps (Cache Storage: the service worker can read and delete it) ----

  async function readKept(key) {
    if (!("caches" in window)) return null;
    try {
      const found = await (await caches.open(STORE)).match(key);
      return found ? await found.json() : null;
    } catch (_) {
      return null;
    }
  }

  async function keep(key, value) {
    if (!("caches" in window)) return;
    const body = JSON.stringify(value);
    const headers = { "Content-Type": "application/json" };
    await (await caches.open(STORE)).put(key, new Response(body, { headers }));
  }

  /** Sign-out: nothing of this person stays on the phone. */
  async function forgetDevice() {
    if (!("caches" in window)) return;
    const names = await caches.keys();
    await Promise.all(
      names
        .filter((name) => name === STORE || name.startsWith(SHELL_PREFIX))
        .map((name) => caches.delete(name)),
    );
  }

  document.addEventListener(
    "click",
    (event) => {
      const target = event.target;
      if (target && target.closest && target.closest('[data-testid="sign-out"]')) {
        forgetDevice();
      }
    },
    true,
  );

  // --- words and times ------------------------------------------------------------------------

  function clockIn(zone) {
    try {
      const format = new Intl.DateTimeFormat("en-GB", {
        timeZone: zone || undefined,
        hour: "2-digit",
        minute: "2-digit",
      });
      return (value) => format.format(new Date(value));
    } catch (_) {
      return (value) => new Date(value).toTimeString().slice(0, 5);
    }
  }

  /** "Already acknowledged by ana.silva at 14:31": the words of a refusal, in local time. */
  function alreadyDone(message, clock) {
    const found = /already (acknowledged|resolved|closed|in progress)[^]*?by ([^\s;()]+) at (\d{4}-\d\d-\d\dT[0-9:.]+(?:Z|[+-]\d\d:\d\d))/.exec(
      message || "",
    );
    if (!found) return null;
    return `Already ${found[1]} by ${found[2]} at ${clock(found[3])}`;
  }

  /** What became of a replayed answer, in words: { kind: done|conflict|error, text }. */
  function describeResult(item, status, body, clock, sentAt) {
    const number = (body && body.incident_number) || item.number;
    const what = LABELS[item.action] || item.action;
    const code = (body && body.code) || "";
    if (body && body.outcome === "done") {
      return {
        kind: "done",
        text: `#${number}: ${DONE[item.action] || "Done"} (sent when back online at ${clock(sentAt)}).`,
      };
    }
    if (body && body.outcome === "no_longer_applies") {
      const already = alreadyDone(body.message, clock);
      return {
        kind: "conflict",
        text: already
          ? `#${number}: ${already} — nothing to do. Your ${what} was not applied.`
          : `#${number}: ${body.message || "no longer needed"} Your ${what} was not applied.`,
      };
    }
    if (code === "already_used") {
      return { kind: "done", text: `#${number}: your ${what} was already recorded (it counts once).` };
    }
    if (code === "expired") {
      return {
        kind: "error",
        text:
          `#${number}: your ${what} was NOT sent: it waited too long on this phone. ` +
          "Answer again now if it is still needed.",
      };
    }
    const why = (body && body.message) || `the server answered ${status}`;
    return { kind: "error", text: `#${number}: your ${what} was NOT accepted: ${why}` };
  }

  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return `${Date.now()}-${Math.random().toString(16).slice(2)}`;
  }

  function validKit(kit) {
    return Boolean(kit && kit.version === 1 && Array.isArray(kit.alarms) && kit.updated_at);
  }

  // --- the element ----------------------------------------------------------------------------

  class OfflineList extends HTMLElement {
    static get observedAttributes() {
      return ["kit"];
    }

    constructor() {
      super();
      this._kitText = "";
      this._kit = null;
      this._queue = [];
      this._results = [];
      this._sendFailed = false;
      this._replaying = null;
      this._lastRenew = 0;
      this._notes = {};
      const root = this.attachShadow({ mode: "open" });
      root.innerHTML =
        `<style>${STYLE}</style>` +
        '<p class="note" role="status" data-testid="push-lost" hidden></p>' +
        '<div class="banner" role="status" aria-live="polite" data-testid="offline-banner" hidden></div>' +
        '<ul class="results" aria-live="polite" data-testid="offline-results" hidden></ul>' +
        '<div class="list" data-testid="offline-list" hidden></div>';
      this._pushNote = root.querySelector('[data-testid="push-lost"]');
      this._banner = root.querySelector('[data-testid="offline-banner"]');
      this._resultList = root.querySelector('[data-testid="offline-results"]');
      this._list = root.querySelector('[data-testid="offline-list"]');
      this._list.addEventListener("click", (event) => this._tap(event));
      this._onOnline = () => {
        this._sendFailed = false;
        this._render();
        this.replay();
      };
      this._onOffline = () => this._render();
      this._observer = new MutationObserver(() => this._checkLiveList());
    }

    get kit() {
      return this._kitText;
    }

    set kit(value) {
      this._kitText = value || "";
      if (!this._kitText) return;
      let parsed = null;
      try {
        parsed = JSON.parse(this._kitText);
      } catch (_) {
        return;
      }
      if (!validKit(parsed)) return;
      if (this._kit && this._kit.user !== parsed.user) {
        // Another person signed in on this phone: nothing of the previous one is shown or sent.
        this._queue = [];
        this._results = [];
        keep(KEYS.queue, []).catch(() => {});
        keep(KEYS.results, []).catch(() => {});
      }
      this._kit = parsed;
      keep(KEYS.kit, parsed).catch(() => {});
      this._render();
    }

    attributeChangedCallback(_name, _old, value) {
      this.kit = value;
    }

    async connectedCallback() {
      if (Object.prototype.hasOwnProperty.call(this, "kit")) {
        const early = this.kit; // set before the element was upgraded
        delete this.kit;
        this.kit = early;
      }
      if (!document.getElementById(LIVE_STYLE_ID)) {
        const style = document.createElement("style");
        style.id = LIVE_STYLE_ID;
        style.textContent = LIVE_STYLE;
        document.head.appendChild(style);
      }
      window.addEventListener("online", this._onOnline);
      window.addEventListener("offline", this._onOffline);
      this._observer.observe(document.body, { childList: true, subtree: true, characterData: true });
      this._timer = setInterval(() => this._checkAge(), 30000);
      await this._loadKept();
      this._render();
      this._registerWorker();
      this._checkPushNote();
      if (navigator.onLine) this.replay();
    }

    disconnectedCallback() {
      window.removeEventListener("online", this._onOnline);
      window.removeEventListener("offline", this._onOffline);
      this._observer.disconnect();
      clearInterval(this._timer);
      delete document.documentElement.dataset.hgOffline;
      // Sent to the sign-in page (signed out, or the session ended): nothing stays behind.
      setTimeout(() => {
        if (location.pathname.replace(/\/+$/, "") === "/login") forgetDevice();
      }, 1000);
    }

    async _loadKept() {
      const [kit, queue, results] = await Promise.all([
        readKept(KEYS.kit),
        readKept(KEYS.queue),
        readKept(KEYS.results),
      ]);
      if (!this._kit && validKit(kit)) {
        if (Date.now() - Date.parse(kit.updated_at) < KEEP_LIST_MS) this._kit = kit;
        else forgetDevice();
      }
      const user = this._kit ? this._kit.user : null;
      this._queue = (Array.isArray(queue) ? queue : []).filter((item) => item.user === user);
      const recent = Date.now() - KEEP_RESULT_MS;
      this._results = (Array.isArray(results) ? results : []).filter(
        (r) => r.at > recent && r.user === user,
      );
      // Somebody else's or old entries are not kept.
      if (Array.isArray(queue) && queue.length !== this._queue.length) {
        await keep(KEYS.queue, this._queue);
      }
      if (Array.isArray(results) && results.length !== this._results.length) {
        await keep(KEYS.results, this._results);
      }
    }

    get offline() {
      return !navigator.onLine || this._sendFailed;
    }

    _clock() {
      return clockIn(this._kit && this._kit.timezone);
    }

    /** Ask the page for a fresh kit (MyAlarmsState.renew_offline_kit, via on_click). */
    _renew() {
      if (this.offline || Date.now() - this._lastRenew < RENEW_GAP_MS) return;
      this._lastRenew = Date.now();
      this.dispatchEvent(new MouseEvent("click", { bubbles: true }));
    }

    _checkAge() {
      if (!this._kit) return;
      const born = Date.parse(this._kit.updated_at);
      const dies = Date.parse(this._kit.expires_at);
      if (Date.now() > born + (dies - born) / 2) this._renew();
    }

    /** The live list changed (a new alarm, a status): the kept one must follow. */
    _checkLiveList() {
      if (this.offline) return;
      clearTimeout(this._liveTimer);
      this._liveTimer = setTimeout(() => {
        const live = document.querySelector(".hg-live-list");
        if (!live) return;
        const cards = live.querySelectorAll('[data-testid="my-alarm"]');
        const empty = live.querySelector('[data-testid="my-alarms-empty"]');
        if (!cards.length && !empty) return; // still loading
        const shown = Array.from(cards)
          .map((card) => {
            const status = card.querySelector('[data-testid="alarm-status"]');
            return `${card.dataset.incidentId}:${status ? status.textContent : ""}`;
          })
          .join("|");
        const kept = this._kit
          ? this._kit.alarms.map((a) => `${a.id}:${a.status}`).join("|")
          : null;
        if (shown !== kept) this._renew();
      }, 300);
    }

    async _registerWorker() {
      if (!("serviceWorker" in navigator)) return;
      try {
        await navigator.serviceWorker.register("/sw.js", { scope: "/" });
        const registration = await navigator.serviceWorker.ready;
        const urls = [location.pathname].concat(
          performance
            .getEntriesByType("resource")
            .map((entry) => entry.name)
            .filter((url) => url.startsWith(location.origin)),
        );
        if (registration.active) registration.active.postMessage({ type: "hg-keep-shell", urls });
      } catch (_) {
        // No service worker (private mode, old browser): online use is unchanged.
      }
    }

    async _checkPushNote() {
      const note = await readKept(KEYS.pushLost);
      let show = Boolean(note);
      if (note && "serviceWorker" in navigator) {
        try {
          const registration = await navigator.serviceWorker.getRegistration("/");
          const current = registration && (await registration.pushManager.getSubscription());
          if (current && current.endpoint !== note.endpoint) {
            show = false;
            const store = await caches.open(STORE);
            await store.delete(KEYS.pushLost);
          }
        } catch (_) {
          // keep the note
        }
      }
      this._pushNote.hidden = !show;
      this._pushNote.textContent = show
        ? "Alerts turned off on this phone: the browser stopped them. Tap \u201cTurn on alerts " +
          "on this phone\u201d to turn them on again."
        : "";
    }

    // --- answering offline ------------------------------------------------------------------

    async _tap(event) {
      const button = event.target.closest("button[data-action]");
      if (!button || !this._kit) return;
      const alarm = this._kit.alarms.find((a) => a.id === button.dataset.incident);
      const action = button.dataset.action;
      if (!alarm || !alarm.answers[action]) return;
      if (this._queue.some((item) => item.incident_id === alarm.id)) return;
      if (Date.now() >= Date.parse(this._kit.expires_at)) {
        this._notes[alarm.id] =
          "This list is too old to answer from this phone (answers kept offline work for a " +
          "few minutes). Answer by phone to the ward.";
        return this._render();
      }
      this._queue.push({
        id: newId(),
        user: this._kit.user,
        incident_id: alarm.id,
        number: alarm.number,
        action,
        token: alarm.answers[action],
        queued_at: Date.now(),
      });
      await keep(KEYS.queue, this._queue);
      this._render();
      if (navigator.onLine) this.replay();
    }

    /** Send what was queued, one at a time, oldest first; never twice at once. */
    replay() {
      if (!this._replaying) {
        this._replaying = this._replayAll().finally(() => {
          this._replaying = null;
        });
      }
      return this._replaying;
    }

    async _replayAll() {
      let answered = false;
      while (this._queue.length && navigator.onLine) {
        const item = this._queue[0];
        let response;
        try {
          response = await fetch(ANSWER_PATH, {
            method: "POST",
            headers: {
              Accept: "application/json",
              "Content-Type": "application/x-www-form-urlencoded",
            },
            body: new URLSearchParams({ token: item.token, via: "link" }),
            credentials: "omit",
            cache: "no-store",
          });
        } catch (_) {
          this._sendFailed = true; // still no network: stay offline, keep the queue
          this._render();
          setTimeout(() => {
            this._sendFailed = false;
            this.replay();
          }, 15000);
          return;
        }
        if (response.status >= 500) {
          this._notes[item.incident_id] =
            "Not sent yet: HealthGuard had a problem. It is tried again in a minute.";
          this._render();
          setTimeout(() => this.replay(), 60000);
          return;
        }
        let body = null;
        try {
          body = await response.json();
        } catch (_) {
          body = null;
        }
        const result = describeResult(item, response.status, body, this._clock(), Date.now());
        this._results.push({ ...result, id: item.id, user: item.user, at: Date.now() });
        this._queue.shift();
        delete this._notes[item.incident_id];
        answered = true;
        await Promise.all([keep(KEYS.queue, this._queue), keep(KEYS.results, this._results)]);
        this._render();
      }
      if (answered) {
        this._lastRenew = 0;
        this._renew();
      }
    }

    // --- drawing ----------------------------------------------------------------------------

    _render() {
      const offline = this.offline;
      if (offline) document.documentElement.dataset.hgOffline = "1";
      else delete document.documentElement.dataset.hgOffline;
      this.dataset.mode = offline ? "offline" : "online";
      this._banner.hidden = !offline;
      this._list.hidden = !offline;
      const clock = this._clock();
      if (offline) {
        const queued = this._queue.length;
        const waiting = queued
          ? ` ${queued} answer${queued === 1 ? "" : "s"} waiting to be sent.`
          : "";
        this._banner.replaceChildren();
        const head = document.createElement("strong");
        head.textContent = "Offline: no network.";
        const text = document.createElement("span");
        text.dataset.testid = "offline-updated";
        text.textContent = this._kit
          ? `Your alarms as they were at ${clock(this._kit.updated_at)} (last update). ` +
            `Answers you tap are kept on this phone and sent when the network is back.${waiting}`
          : "No list was kept on this phone yet. Answer by phone to the ward.";
        this._banner.append(head, text);
        this._drawList(clock);
      }
      this._resultList.replaceChildren(
        ...this._results.map((result) => {
          const item = document.createElement("li");
          item.className = result.kind;
          item.dataset.testid = "offline-result";
          item.textContent = result.text;
          return item;
        }),
      );
      this._resultList.hidden = this._results.length === 0;
    }

    _drawList(clock) {
      const alarms = this._kit ? this._kit.alarms : [];
      if (!alarms.length) {
        const empty = document.createElement("p");
        empty.dataset.testid = "offline-empty";
        empty.textContent = this._kit ? "No open alarms for you at the last update." : "";
        this._list.replaceChildren(empty);
        return;
      }
      this._list.replaceChildren(...alarms.map((alarm) => this._card(alarm, clock)));
    }

    _card(alarm, clock) {
      const card = document.createElement("article");
      card.className = alarm.priority;
      card.dataset.testid = "offline-alarm";
      card.dataset.incidentId = alarm.id;
      const top = document.createElement("div");
      top.className = "top";
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = alarm.priority_label || alarm.priority;
      const number = document.createElement("span");
      number.className = "muted";
      number.textContent = `#${alarm.number}`;
      const status = document.createElement("span");
      status.dataset.testid = "offline-alarm-status";
      const queued = this._queue.find((item) => item.incident_id === alarm.id);
      if (queued) {
        status.className = "queued";
        status.textContent =
          `${LABELS[queued.action]} queued on this phone at ${clock(queued.queued_at)}: ` +
          "sent when the network is back";
      } else {
        status.textContent = `${alarm.status} (at the last update)`;
      }
      top.append(badge, number, status);
      const title = document.createElement("h2");
      title.textContent = alarm.title;
      const where = document.createElement("p");
      const patient = alarm.patient ? ` · Patient ${alarm.patient}` : "";
      where.textContent = `${alarm.location}${patient} · opened ${clock(alarm.opened_at)}`;
      card.append(top, title, where);
      if (this._notes[alarm.id]) {
        const note = document.createElement("p");
        note.className = "note";
        note.setAttribute("role", "alert");
        note.textContent = this._notes[alarm.id];
        card.append(note);
      }
      if (!queued) {
        const buttons = document.createElement("div");
        buttons.className = "buttons";
        for (const action of ["acknowledge", "escalate", "decline"]) {
          if (!alarm.answers[action]) continue;
          const button = document.createElement("button");
          button.type = "button";
          button.dataset.action = action;
          button.dataset.incident = alarm.id;
          button.dataset.testid = `offline-answer-${action}`;
          button.style.background = COLOURS[action];
          button.textContent = LABELS[action];
          button.setAttribute("aria-label", `${LABELS[action]} incident ${alarm.number} (offline)`);
          buttons.append(button);
        }
        card.append(buttons);
      }
      return card;
    }
  }

  customElements.define("hg-offline-list", OfflineList);
})();
