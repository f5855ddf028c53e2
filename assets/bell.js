/* The notification bell's alarm tone: <hg-bell-sound tone="..." zone="Europe/London">.
 *
 * `tone` holds keys separated by spaces: the id of my newest unread P0/P1 notification
 * (MyAlarmsFeed.bell_tone_key) and, on the dashboard, the watched ward's newest P0/P1 that
 * nobody has acknowledged (WardFeed.alarm_tone_key); "" when none. `message` is the text
 * of the browser notification shown with the sound when the person allowed notifications
 * (asked on the first tap of the button). When a key appears that this device has not
 * sounded yet, a short
 * IEC 60601-1-8 style high-priority burst (3 + 2 pulses at 880 Hz) is played with Web Audio:
 * generated in the browser, no sound file. It is a secondary alarm: the bedside monitor
 * stays the primary one.
 *
 * One button, in words:
 * - "Tap to enable sound": browsers keep audio off until the person taps or presses a key
 *   on the page; the button (or any tap) turns it on;
 * - "Mute sound 15 min": silences the tone on this device for 15 minutes (never more than
 *   60, even if the stored value was edited); the button then says "Sound off until 14:47 ·
 *   turn on" in the hospital's time zone and the mute ends by itself.
 *
 * For tests and support: window.hgBellTones counts tones played, window.hgBellTonesMuted
 * tones skipped while muted. No inline script or eval (the Content-Security-Policy forbids
 * them): this file is loaded with <script src="/bell.js">.
 */
(() => {
  "use strict";
  if (window.customElements === undefined || customElements.get("hg-bell-sound")) return;

  const MUTE_MINUTES = 15;
  const MAX_MUTE_MINUTES = 60;
  const MUTE_KEY = "hg-bell-muted-until";
  const HEARD_KEY = "hg-bell-heard";
  const STYLE = `
    :host { display: inline-flex; }
    button { min-height: 44px; min-width: 44px; padding: 0 0.6rem; font: inherit;
      font-size: 0.85rem; font-weight: 600; color: #ffffff; background: transparent;
      border: 1px solid rgba(255,255,255,0.6); border-radius: 6px; cursor: pointer;
      white-space: normal; max-width: 12rem; text-align: left; }
    button.locked { background: #854d0e; border-color: #854d0e; }
    button.muted { background: #4b5563; border-color: #4b5563; }
    button:focus-visible { outline: 3px solid #fde047; outline-offset: 2px; }`;

  let audio = null;
  const COALESCE_MS = 20000;
  const lastSounded = new Map(); // incident id -> when it last sounded (or was muted)

  function context() {
    const AC = window.AudioContext || window.webkitAudioContext;
    if (!AC) return null;
    if (audio === null) audio = new AC();
    return audio;
  }

  function unlocked() {
    const ctx = context();
    return ctx !== null && ctx.state === "running";
  }

  function mutedUntil() {
    let until = 0;
    try {
      until = Number(window.localStorage.getItem(MUTE_KEY) || "0");
    } catch (_) {
      until = 0;
    }
    const now = Date.now();
    if (!Number.isFinite(until) || until <= now || until > now + MAX_MUTE_MINUTES * 60000) {
      return 0;
    }
    return until;
  }

  function setMute(until) {
    try {
      if (until) window.localStorage.setItem(MUTE_KEY, String(until));
      else window.localStorage.removeItem(MUTE_KEY);
    } catch (_) {
      /* private mode: the mute lasts for this page only */
    }
  }

  function heardBefore(key) {
    let heard = [];
    try {
      heard = JSON.parse(window.localStorage.getItem(HEARD_KEY) || "[]");
    } catch (_) {
      heard = [];
    }
    if (!Array.isArray(heard)) heard = [];
    if (heard.includes(key)) return true;
    heard.push(key);
    try {
      window.localStorage.setItem(HEARD_KEY, JSON.stringify(heard.slice(-50)));
    } catch (_) {
      /* ignore */
    }
    return false;
  }

  function burst() {
    const ctx = context();
    if (ctx === null) return;
    if (ctx.state === "suspended") ctx.resume().catch(() => {});
    const t0 = ctx.currentTime + 0.05;
    [0, 0.2, 0.4, 0.8, 1.0].forEach((offset) => {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = "triangle";
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.0001, t0 + offset);
      gain.gain.exponentialRampToValueAtTime(0.3, t0 + offset + 0.015);
      gain.gain.setValueAtTime(0.3, t0 + offset + 0.12);
      gain.gain.exponentialRampToValueAtTime(0.0001, t0 + offset + 0.15);
      osc.connect(gain);
      gain.connect(ctx.destination);
      osc.start(t0 + offset);
      osc.stop(t0 + offset + 0.16);
    });
  }

  class BellSound extends HTMLElement {
    static get observedAttributes() {
      return ["tone", "message", "zone"];
    }

    constructor() {
      super();
      const root = this.attachShadow({ mode: "open" });
      const style = document.createElement("style");
      style.textContent = STYLE;
      this.button = document.createElement("button");
      this.button.type = "button";
      this.button.setAttribute("data-testid", "bell-sound");
      this.button.addEventListener("click", () => this.toggle());
      root.append(style, this.button);
      this.timer = null;
      this.unlock = () => {
        const ctx = context();
        if (ctx !== null && ctx.state === "suspended") {
          ctx.resume().then(() => this.render(), () => this.render());
        } else {
          this.render();
        }
      };
    }

    connectedCallback() {
      window.addEventListener("pointerdown", this.unlock);
      window.addEventListener("keydown", this.unlock);
      this.timer = window.setInterval(() => this.render(), 15000);
      this.render();
      this.sound();
    }

    disconnectedCallback() {
      window.removeEventListener("pointerdown", this.unlock);
      window.removeEventListener("keydown", this.unlock);
      if (this.timer !== null) window.clearInterval(this.timer);
    }

    attributeChangedCallback(name) {
      if (name === "tone") this.sound();
      this.render();
    }

    sound() {
      // `tone` holds one or more keys separated by spaces (my newest unread P0/P1, the
      // watched ward's newest unacknowledged P0/P1); any key not heard yet sounds once.
      const keys = (this.getAttribute("tone") || "").split(" ").filter((k) => k);
      if (!this.isConnected) return;
      // A key is "<incident id>" (the ward's) or "<incident id>/<notification id>" (mine).
      // One incident sounds once per COALESCE_MS: the ward card and my own notification of
      // the same new P1 arrive within a second of each other and make one sound; a repeat
      // notification (the escalation's 30 s repeat) sounds again.
      const fresh = keys.filter((key) => !heardBefore(key));
      if (fresh.length === 0) return;
      const now = Date.now();
      const incidents = fresh.map((key) => key.split("/")[0]);
      const recent = incidents.every((incident) => now - (lastSounded.get(incident) || 0) < COALESCE_MS);
      incidents.forEach((incident) => lastSounded.set(incident, now));
      if (recent) {
        window.hgBellTonesCoalesced = (window.hgBellTonesCoalesced || 0) + 1;
        return;
      }
      if (mutedUntil()) {
        window.hgBellTonesMuted = (window.hgBellTonesMuted || 0) + 1;
        return;
      }
      window.hgBellTones = (window.hgBellTones || 0) + 1;
      try {
        burst();
      } catch (error) {
        console.warn("HealthGuard alarm tone", error);
      }
      this.notify(fresh[fresh.length - 1]);
      this.render();
    }

    notify(key) {
      // A browser notification with the sound, when the person allowed them: it reaches a
      // command-centre screen whose tab is in the background.
      const text = this.getAttribute("message") || "New P0/P1 alarm";
      if (window.Notification === undefined || Notification.permission !== "granted") return;
      const options = { body: text, tag: key, renotify: false, requireInteraction: true };
      try {
        new Notification("HealthGuard Ops: secondary alarm", options);
        window.hgBellNotices = (window.hgBellNotices || 0) + 1;
      } catch (_) {
        // Android Chrome only shows notifications through a service worker.
        if (navigator.serviceWorker && navigator.serviceWorker.getRegistration) {
          navigator.serviceWorker.getRegistration("/").then((registration) => {
            if (!registration) return;
            registration.showNotification("HealthGuard Ops: secondary alarm", options);
            window.hgBellNotices = (window.hgBellNotices || 0) + 1;
          });
        }
      }
    }

    toggle() {
      if (
        window.Notification !== undefined &&
        Notification.permission === "default" &&
        Notification.requestPermission
      ) {
        // Asked on a tap (browsers refuse to ask otherwise); a refusal only leaves the sound.
        Promise.resolve(Notification.requestPermission()).catch(() => {});
      }
      if (!unlocked()) {
        this.unlock();
        return;
      }
      if (mutedUntil()) setMute(0);
      else setMute(Date.now() + MUTE_MINUTES * 60000);
      this.render();
    }

    clock(ms) {
      const zone = this.getAttribute("zone") || undefined;
      try {
        return new Intl.DateTimeFormat("en-GB", {
          hour: "2-digit",
          minute: "2-digit",
          timeZone: zone,
        }).format(new Date(ms));
      } catch (_) {
        return new Date(ms).toTimeString().slice(0, 5);
      }
    }

    render() {
      const until = mutedUntil();
      const button = this.button;
      button.className = "";
      if (!unlocked()) {
        button.className = "locked";
        button.textContent = "Tap to enable sound";
        button.setAttribute(
          "aria-label",
          "Alarm sound is off until you tap: browsers block sound before a tap. Tap to enable sound."
        );
        this.dataset.sound = "locked";
      } else if (until) {
        button.className = "muted";
        button.textContent = `Sound off until ${this.clock(until)} · turn on`;
        button.setAttribute("aria-label", `Alarm sound muted until ${this.clock(until)}. Turn sound on.`);
        this.dataset.sound = "muted";
      } else {
        button.textContent = `Mute sound ${MUTE_MINUTES} min`;
        button.setAttribute("aria-label", `Mute the alarm sound for ${MUTE_MINUTES} minutes`);
        this.dataset.sound = "on";
      }
    }
  }

  customElements.define("hg-bell-sound", BellSound);
})();
