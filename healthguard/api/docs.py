"""A self-contained API reference page rendered from the OpenAPI document (no CDN)."""

from __future__ import annotations

import html

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)


@router.get("/docs")
def api_docs(request: Request) -> HTMLResponse:
    spec = request.app.openapi()
    rows = []
    for path, operations in sorted(spec.get("paths", {}).items()):
        for method, op in operations.items():
            responses = ", ".join(sorted(op.get("responses", {})))
            rows.append(
                "<tr>"
                f"<td><code>{html.escape(method.upper())}</code></td>"
                f"<td><code>{html.escape(path)}</code></td>"
                f"<td>{html.escape(op.get('summary', ''))}</td>"
                f"<td>{html.escape(responses)}</td>"
                "</tr>"
            )
    title = html.escape(spec["info"]["title"])
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem;color:#111}}
table{{border-collapse:collapse;width:100%}}td,th{{border-bottom:1px solid #ccc;padding:.4rem;
text-align:left;vertical-align:top}}code{{font-size:.95em}}</style></head><body>
<h1>{title} <small>{html.escape(spec["info"]["version"])}</small></h1>
<p>{html.escape(spec["info"].get("description", ""))}</p>
<p>Machine-readable: <a href="openapi.json">openapi.json</a>
(OpenAPI {html.escape(spec["openapi"])}).</p>
<table><thead><tr><th>Method</th><th>Path</th><th>What it does</th><th>Answers</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table></body></html>"""
    return HTMLResponse(page)
