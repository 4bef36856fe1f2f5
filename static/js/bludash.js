// bludash's own script, vendored with the app (no CDN). Each feature is opt-in by data attribute.
