/* "Turn on alerts on this phone": <hg-push-control token="..."> on the /my page.
 *
 * Registers /sw.js (scope "/"), asks the notification permission (in the tap itself: some
 * browsers allow it only then), subscribes with the server's VAPID key
 * (GET /api/v1/notifications/vapid-public-key) and registers the subscription
 * (POST /api/v1/notifications/push-subscriptions); "Turn off" unsubscribes and DELETEs it.
 * The server checks who may do what; `token` is a short-lived API access token of the
 * signed-in person, given by the page (MyAlarmsState.push_token) and renewed on each tap.
 * The state is shown in words: on / off / blocked by the browser / not supported.
 */
(() => {
  "use strict";
  if (window.customElements === undefined || customElements.get("hg-push-control")) return;

  const API = "/api/v1/notifications";
  const TEXT = {
    checking: "Alerts on this phone: checking…",
    unsupported:
      "Alerts on this phone: not supported by this browser. (On an iPhone, add HealthGuard " +
      "to the home screen first.)",
    blocked:
      "Alerts on this phone: blocked by the browser. Allow notifications for this site in " +
      "the browser's settings, then try again.",
    off: "Alerts on this phone: off.",
    on: "Alerts on this phone: on. Alarms reach this phone even with HealthGuard closed.",
    working: "Alerts on this phone: turning on…",
    stopping: "Alerts on this phone: turning off…",
    unavailable:
      "Alerts on this phone are not available: this server has no Web Push key. Alarms " +
      "reach you in the app and on your other channels.",
  };
  const STYLE = `
    :host { display: block; margin: 0.5rem 0 0.75rem; }
    p { margin: 0 0 0.5rem; font-size: 0.95rem; }
    button { width: 100%; min-height: 48px; font-size: 1rem; font-weight: 700; border: none;
      border-radius: 8px; cursor: pointer; color: #ffffff; background: #1d4ed8; }
    button.off { background: #4b5563; }
    button[disabled] { opacity: 0.6; cursor: default; }`;

  function supported() {
    return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
  }

  function keyBytes(base64url) {
    const text = base64url.replace(/-/g, "+").replace(/_/g, "/");
    const raw = atob(text + "=".repeat((4 - (text.length % 4)) % 4));
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  }

  function tokenExpiry(token) {
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(part + "=".repeat((4 - (part.length % 4)) % 4))).exp * 1000;
    } catch (_) {
      return 0;
    }
  }

  async function problem(response) {
    try {
      const body = await response.json();
      const error = body.error || {};
      return error.message || body.detail || `HTTP ${response.status}`;
    } catch (_) {
      return `HTTP ${response.status}`;
    }
  }

  class PushControl extends HTMLElement {
    static get observedAttributes() {
      return ["token"];
    }

    constructor() {
      super();
      this._token = "";
      this._waiters = [];
      const root = this.attachShadow({ mode: "open" });
      root.innerHTML =
        `<style>${STYLE}</style>` +
        '<p role="status" aria-live="polite" data-testid="push-state"></p>' +
        '<button type="button" data-testid="push-toggle"></button>';
      this._status = root.querySelector("p");
      this._button = root.querySelector("button");
      this._button.addEventListener("click", () => this._toggle());
    }

    get token() {
      return this._token;
    }

    set token(value) {
      this._token = value || "";
      if (this._token) this._waiters.splice(0).forEach((wake) => wake());
    }

    attributeChangedCallback(_name, _old, value) {
      this.token = value;
    }

    connectedCallback() {
      if (Object.prototype.hasOwnProperty.call(this, "token")) {
        const early = this.token; // set before the element was upgraded
        delete this.token;
        this.token = early;
      }
      this._refresh();
    }

    _show(state, detail) {
      this.dataset.state = state;
      this._status.textContent = detail || TEXT[state];
      const on = state === "on";
      this._button.textContent = on ? "Turn off alerts on this phone" : "Turn on alerts on this phone";
      this._button.className = on ? "off" : "";
      this._button.disabled = ["unsupported", "working", "stopping", "checking"].includes(state);
    }

    async _subscription() {
      const registration = await navigator.serviceWorker.getRegistration("/");
      return registration ? registration.pushManager.getSubscription() : null;
    }

    async _refresh() {
      if (!supported()) return this._show("unsupported");
      if (Notification.permission === "denied") return this._show("blocked");
      this._show("checking");
      try {
        const subscription = await this._subscription();
        this._show(subscription && Notification.permission === "granted" ? "on" : "off");
      } catch (_) {
        this._show("off");
      }
    }

    /** A valid access token: the page renews it on each tap; wait a little for it. */
    async _freshToken() {
      const valid = () => this._token && tokenExpiry(this._token) > Date.now() + 5000;
      for (let i = 0; i < 2 && !valid(); i += 1) {
        await new Promise((resolve) => {
          this._waiters.push(resolve);
          setTimeout(resolve, 5000);
        });
      }
      if (!valid()) throw new Error("your sign-in has expired: reload the page and try again");
      return this._token;
    }

    async _api(method, path, body) {
      const token = await this._freshToken();
      const headers = { Authorization: `Bearer ${token}`, Accept: "application/json" };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      return fetch(API + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "omit",
      });
    }

    _toggle() {
      if (this.dataset.state === "on") return this.turnOff();
      return this.turnOn();
    }

    async turnOn() {
      if (!supported()) return this._show("unsupported");
      this._show("working");
      let registration;
      let permission;
      try {
        // Asked first, while the tap still counts as the person's own gesture.
        const asking = Notification.requestPermission();
        registration = await navigator.serviceWorker.register("/sw.js", { scope: "/" });
        permission = await asking;
      } catch (error) {
        return this._show("off", `Alerts on this phone could not be turned on: ${error.message}.`);
      }
      if (permission === "denied") return this._show("blocked");
      if (permission !== "granted") {
        return this._show("off", "Alerts on this phone: off. Allow notifications to turn them on.");
      }
      try {
        const keyResponse = await this._api("GET", "/vapid-public-key");
        if (keyResponse.status === 404) return this._show("off", TEXT.unavailable);
        if (!keyResponse.ok) throw new Error(await problem(keyResponse));
        const { public_key: publicKey } = await keyResponse.json();
        await navigator.serviceWorker.ready;
        const subscription = await registration.pushManager.subscribe({
          userVisibleOnly: true,
          applicationServerKey: keyBytes(publicKey),
        });
        const saved = await this._api("POST", "/push-subscriptions", subscription.toJSON());
        if (!saved.ok) {
          const why = await problem(saved);
          await subscription.unsubscribe();
          throw new Error(why);
        }
        return this._show("on");
      } catch (error) {
        const reason = (error && error.message) || "unknown error";
        return this._show(
          "off",
          `Alerts on this phone could not be turned on: ${reason}. Alarms still reach you ` +
            "in the app and on your other channels.",
        );
      }
    }

    async turnOff() {
      this._show("stopping");
      try {
        const subscription = await this._subscription();
        if (subscription) {
          const endpoint = subscription.endpoint;
          await subscription.unsubscribe();
          const removed = await this._api("DELETE", "/push-subscriptions", { endpoint });
          if (!removed.ok && removed.status !== 404) throw new Error(await problem(removed));
        }
        return this._show("off");
      } catch (error) {
        await this._refresh();
        return this._show(
          this.dataset.state,
          `Alerts on this phone could not be turned off: ${error.message}.`,
        );
      }
    }
  }

  customElements.define("hg-push-control", PushControl);
})();
