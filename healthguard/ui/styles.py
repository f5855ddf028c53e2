"""Style constants. Priority colours follow IEC 60601-1-8 (high red, medium yellow, low cyan);
every colour is paired with words on screen, and text colours keep WCAG AA contrast."""

from __future__ import annotations

from healthguard.incidents.priority import PRIORITY_STYLES

# Background, border and text per alarm colour (text contrast >= 4.5:1 on the background).
ALARM_COLOURS: dict[str, dict[str, str]] = {
    "red": {"bg": "#fde8e8", "border": "#c81e1e", "text": "#7f1d1d", "badge": "#c81e1e"},
    "yellow": {"bg": "#fef9c3", "border": "#ca8a04", "text": "#713f12", "badge": "#854d0e"},
    "cyan": {"bg": "#e0f7fa", "border": "#0e7490", "text": "#164e63", "badge": "#0e7490"},
}

PRIORITY_COLOUR: dict[str, str] = {p: s.colour for p, s in PRIORITY_STYLES.items()}

PAGE_MAX_WIDTH = "1400px"
HEADER_BG = "#0b3d5c"
HEADER_TEXT = "#ffffff"
MUTED_TEXT = "#4b5563"
CARD_BORDER = "#d1d5db"

# A dark button with a 44 px touch target (Acknowledge, Close, ...).
DARK_BUTTON = {
    "min_height": "44px",
    "padding": "0 1rem",
    "background": "#111827",
    "color": "#ffffff",
    "border": "none",
    "border_radius": "6px",
    "cursor": "pointer",
}

# Global CSS: keyframes for flashing high/medium priority alarms (reduced for users who ask).
GLOBAL_STYLE = {
    "@keyframes hg-flash": {"0%, 100%": {"opacity": 1}, "50%": {"opacity": 0.55}},
    "@media (prefers-reduced-motion: reduce)": {".hg-flash": {"animation": "none !important"}},
    "html, body": {"overflow_x": "hidden"},
}
