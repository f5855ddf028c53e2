/* HealthGuard Ops service worker, served at /sw.js (scope "/").
 *
 * Today: Web Push alarms with answer buttons. Every notification is a SECONDARY alarm: the
 * bedside monitor remains the primary one (the payload's body says so).
 *
 *   push               -> handlePush(payload): show the alarm, report the receipt
 *   notificationclick  -> handleNotificationClick(notification, action):
 *                         a button posts its single-use answer token to POST /answer
 *                         (the same answers.answer() service as every channel) and shows
 *                         what became of it; a tap on the body opens /my
 *
 *   install / activate / fetch -> the app shell of /my, for a reload without network
 *   pushsubscriptionchange     -> noted, so /my asks to turn alerts on again
 *
 * The payload is built by healthguard/notify/channels/webpush.py (push_payload). Sections are
 * kept apart: the app-shell cache never touches the alarm path. The handlers are also
 * exposed as self.hg for tests.
 */
"use strict";

const HG = {
  answerPath: "/answer",
  receiptPath: "/api/v1/notifications/push-receipts",
  openPath: "/my",
  secondaryAlarm: "Secondary alarm: check the bedside monitor.",
  doneTitles: { acknowledge: "Acknowledged", escalate: "Escalated", decline: "Declined" },
};

// --- lifecycle and the app shell of /my (for when the network drops) --------------------
//
// The shell: /my's HTML (the same for everyone: the list comes over the websocket, so it
// holds no patient data) and the static files it loads (Reflex's hashed /assets/*, the
// scripts, the manifest and icons). Navigations: network first, the kept /my when there is no
// network. Never kept: /api/*, /answer, the websocket, anything else. The list itself and
// the queued answers are kept by assets/offline.js in the "hg-device-v1" cache; both are
// deleted on sign-out.

const SHELL = {
  cache: "hg-shell-v1",
  prefix: "hg-shell-",
  device: "hg-device-v1",
  pushLostKey: "/__hg/offline/push-lost",
  pages: new Set(["/my"]),
  files: new Set([
    "/offline.js",
    "/push.js",
    "/manifest.webmanifest",
    "/favicon.ico",
    "/icons/icon-192.png",
    "/icons/icon-512.png",
  ]),
};

function isShellFile(url) {
  return (
    url.origin === self.location.origin &&
    (url.pathname.startsWith("/assets/") || SHELL.files.has(url.pathname))
  );
}

function pagePath(url) {
  return url.pathname.replace(/\/+$/, "") || "/";
}

/** A copy fit to answer a navigation: the server redirects /my to /my/, and a browser refuses
 * a redirected response for a navigation; the body is already decoded. */
async function storable(response) {
  if (!response.redirected) return response;
  const headers = new Headers(response.headers);
  headers.delete("content-encoding");
  headers.delete("content-length");
  return new Response(await response.blob(), {
    status: response.status,
    statusText: response.statusText,
    headers,
  });
}

/** Keep these same-origin shell URLs (others are ignored). */
async function keepShell(urls) {
  const cache = await caches.open(SHELL.cache);
  const wanted = [];
  for (const raw of urls || []) {
    let url;
    try {
      url = new URL(raw, self.location.origin);
    } catch (_) {
      continue;
    }
    if (url.origin !== self.location.origin) continue;
    if (SHELL.pages.has(pagePath(url))) wanted.push(pagePath(url));
    else if (isShellFile(url)) wanted.push(url.pathname + url.search);
  }
  await Promise.all(
    [...new Set(wanted)].map(async (path) => {
      try {
        const response = await fetch(path, { credentials: "same-origin" });
        if (response.ok) await cache.put(path, await storable(response));
      } catch (_) {
        // offline now: kept the next time
      }
    }),
  );
}

/** /my and every /assets/ file its HTML names (the page reports the lazily loaded ones). */
async function precacheShell() {
  const pages = [...SHELL.pages];
  const found = [...pages, ...SHELL.files];
  for (const page of pages) {
    try {
      const html = await (await fetch(page, { credentials: "same-origin" })).text();
      for (const match of html.matchAll(/(?:href|src)="(\/assets\/[^"]+)"/g)) found.push(match[1]);
    } catch (_) {
      // offline at install: kept as the page is used
    }
  }
  await keepShell(found);
}

async function dropOldShells() {
  const names = await caches.keys();
  await Promise.all(
    names
      .filter((name) => name.startsWith(SHELL.prefix) && name !== SHELL.cache)
      .map((name) => caches.delete(name)),
  );
}

function offlinePage() {
  const body =
    '<!doctype html><html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    "<title>Offline · HealthGuard Ops</title></head>" +
    '<body style="font-family:system-ui,sans-serif;padding:1rem">' +
    "<h1>No network</h1><p>This page needs the network. Your alarms as last shown are on " +
    '<a href="/my">My alarms</a>. The bedside monitor remains the primary alarm.</p>' +
    "</body></html>";
  return new Response(body, {
    status: 503,
    headers: { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" },
  });
}

async function navigate(request) {
  const url = new URL(request.url);
  const page = pagePath(url);
  const keptPage = SHELL.pages.has(page);
  try {
    const response = await fetch(request);
    if (keptPage && response.ok && response.type === "basic") {
      const cache = await caches.open(SHELL.cache);
      await cache.put(page, await storable(response.clone()));
    }
    return response;
  } catch (error) {
    if (keptPage) {
      const kept = await caches.match(page, { cacheName: SHELL.cache });
      if (kept) return kept;
    }
    return offlinePage();
  }
}

/** Hashed /assets/ files never change: the kept copy first. The others: network first. */
async function shellFile(request) {
  const url = new URL(request.url);
  const cache = await caches.open(SHELL.cache);
  if (url.pathname.startsWith("/assets/")) {
    const kept = await cache.match(request, { ignoreVary: true });
    if (kept) return kept;
  }
  try {
    const response = await fetch(request);
    if (response.ok && response.type === "basic") await cache.put(request, response.clone());
    return response;
  } catch (error) {
    const kept = await cache.match(request, { ignoreSearch: false, ignoreVary: true });
    if (kept) return kept;
    throw error;
  }
}

self.addEventListener("install", (event) => {
  self.skipWaiting();
  event.waitUntil(precacheShell());
});

self.addEventListener("activate", (event) => {
  event.waitUntil(Promise.all([dropOldShells(), self.clients.claim()]));
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    event.respondWith(navigate(request));
  } else if (isShellFile(url)) {
    event.respondWith(shellFile(request));
  }
  // Everything else (the API, /answer, the websocket) goes to the network untouched.
});

self.addEventListener("message", (event) => {
  const data = event.data || {};
  if (data.type === "hg-keep-shell") event.waitUntil(keepShell(data.urls));
});

// --- pushsubscriptionchange: the browser dropped or replaced the subscription -----------
//
// Registering a new subscription needs the person's API token, which the worker does not
// hold; so it is only noted, and /my (assets/offline.js) says "alerts turned off on this
// phone: turn them on again" until the "Turn on alerts" control made a new subscription.

async function handleSubscriptionChange(event) {
  const old = (event && event.oldSubscription) || null;
  const note = { endpoint: old ? old.endpoint : "", at: new Date().toISOString() };
  const cache = await caches.open(SHELL.device);
  await cache.put(
    SHELL.pushLostKey,
    new Response(JSON.stringify(note), { headers: { "Content-Type": "application/json" } }),
  );
  return note;
}

self.addEventListener("pushsubscriptionchange", (event) => {
  event.waitUntil(handleSubscriptionChange(event));
});

// --- push: show the alarm, report that it arrived ----------------------------------------

function readPush(event) {
  if (!event.data) return null;
  try {
    return event.data.json();
  } catch (_) {
    return null;
  }
}

function alarmOptions(payload, notice) {
  const links = {};
  const actions = [];
  for (const item of payload.actions || []) {
    if (!item || !item.action || !item.url) continue;
    links[item.action] = item.url;
    actions.push({ action: item.action, title: item.title || item.action });
  }
  const body = payload.body || HG.secondaryAlarm;
  return {
    body: notice ? `${notice}\n${body}` : body,
    tag: payload.tag || `incident-${payload.incident_id || "unknown"}`,
    renotify: true,
    requireInteraction: Boolean(payload.requireInteraction),
    actions,
    data: {
      payload,
      links,
      open: payload.open || HG.openPath,
    },
  };
}

async function showAlarm(payload, notice) {
  const title = payload.title || "HealthGuard alarm";
  await self.registration.showNotification(title, alarmOptions(payload, notice));
}

/** POST the receipt token: the server marks the notification delivered (never backwards). */
async function sendReceipt(payload) {
  if (!payload || !payload.receipt) return null;
  try {
    const response = await fetch(HG.receiptPath, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: payload.receipt }),
      credentials: "omit",
    });
    return response.ok ? await response.json() : { error: response.status };
  } catch (_) {
    return null; // offline: the alarm is shown anyway
  }
}

async function handlePush(payload) {
  if (!payload || typeof payload !== "object") {
    // A push must always show something; without a readable payload, send them to the app.
    payload = { title: "HealthGuard alarm", body: `Open HealthGuard. ${HG.secondaryAlarm}` };
  }
  const [, receipt] = await Promise.all([showAlarm(payload), sendReceipt(payload)]);
  return receipt;
}

self.addEventListener("push", (event) => {
  event.waitUntil(handlePush(readPush(event)));
});

// --- notificationclick: answer with a button, or open the app ----------------------------

function answerToken(url) {
  try {
    return new URL(url, self.location.origin).searchParams.get("token");
  } catch (_) {
    return null;
  }
}

function resultTitle(result) {
  const number = result.incident_number ? `#${result.incident_number}` : "the incident";
  if (result.outcome === "done") {
    return `${HG.doneTitles[result.action] || "Done"} ${number}`;
  }
  if (result.outcome === "no_longer_applies") return `${number}: no longer needed`;
  if (result.code === "already_used") return "This button was already used";
  return "Your answer was not accepted";
}

async function postAnswer(token) {
  const response = await fetch(HG.answerPath, {
    method: "POST",
    headers: {
      Accept: "application/json",
      "Content-Type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams({ token, via: "push" }),
    credentials: "omit",
  });
  return await response.json();
}

async function focus(client) {
  try {
    return await client.focus(); // allowed while a notification click is being handled
  } catch (_) {
    return client;
  }
}

/** Bring HealthGuard to the front at `path`: an open window of it, else a new one. */
async function openApp(path) {
  const target = new URL(path || HG.openPath, self.location.origin).href;
  const windows = await self.clients.matchAll({ type: "window" });
  const path_ = (url) => new URL(url).pathname.replace(/\/+$/, "");
  const same = windows.find((client) => path_(client.url) === path_(target));
  if (same) return focus(same);
  const other = windows.find((client) => "navigate" in client);
  if (other) return focus((await other.navigate(target)) || other);
  return self.clients.openWindow(target);
}

async function handleNotificationClick(notification, action) {
  const data = notification.data || {};
  const url = action ? (data.links || {})[action] : null;
  const token = url ? answerToken(url) : null;
  notification.close();
  if (!token) {
    await openApp(data.open);
    return { outcome: "opened" };
  }
  let result;
  try {
    result = await postAnswer(token);
  } catch (_) {
    // Not answered: bring the alarm back with its buttons, and say so.
    await showAlarm(
      data.payload || {},
      "HealthGuard could not be reached: your answer was NOT recorded. Try again.",
    );
    return { outcome: "not_sent" };
  }
  await self.registration.showNotification(resultTitle(result), {
    body: `${result.message || ""}\n${HG.secondaryAlarm}`.trim(),
    tag: notification.tag,
    renotify: false,
    requireInteraction: false,
    data: { open: data.open || HG.openPath, result },
  });
  return result;
}

self.addEventListener("notificationclick", (event) => {
  event.waitUntil(handleNotificationClick(event.notification, event.action));
});

self.hg = {
  handlePush,
  handleNotificationClick,
  sendReceipt,
  alarmOptions,
  handleSubscriptionChange,
  keepShell,
};
