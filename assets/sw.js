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
 * The payload is built by healthguard/notify/channels/webpush.py (push_payload). Sections are
 * kept apart so that offline caching of the app shell can be added below "lifecycle"
 * without touching the alarm path. The handlers are also exposed as self.hg for tests.
 */
"use strict";

const HG = {
  answerPath: "/answer",
  receiptPath: "/api/v1/notifications/push-receipts",
  openPath: "/my",
  secondaryAlarm: "Secondary alarm: check the bedside monitor.",
  doneTitles: { acknowledge: "Acknowledged", escalate: "Escalated", decline: "Declined" },
};

// --- lifecycle (the app-shell cache will go here) ---------------------------------------

self.addEventListener("install", () => {
  self.skipWaiting();
});

self.addEventListener("activate", (event) => {
  event.waitUntil(self.clients.claim());
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

self.hg = { handlePush, handleNotificationClick, sendReceipt, alarmOptions };
