/*! recsys related.js: "Readers also read" for any blog, from recsys's related.json.
 * MIT licence. No dependencies.
 *
 *   <div data-recsys-related style="min-height: 16em"></div>
 *   <script src="/recsys/related.js" defer></script>
 *
 * Options, as data- attributes on the container or on the script tag (the container's win):
 *   data-src            the related.json URL (default: related.json next to this script)
 *   data-pattern        the article pattern, a regular expression (default: ^/archives/\d+$)
 *   data-heading        the heading (default: Readers also read)
 *   data-limit          the most links shown (default: 10)
 * The container gets data-recsys-state="shown", "empty" or "error" when done.
 * Only same-origin links whose path matches the pattern are made; text is set with textContent.
 * The trailing slash does not matter: paths are tried with and without it, as recsys does.
 */
(function () {
  "use strict";
  if (!window.fetch || !window.Promise || !document.querySelectorAll) return;
  var script = document.currentScript;
  var SAFE = /^\/(?!\/)[^\s\\\x00-\x1f\x7f"'<>`]*$/;
  var MAX_AGE = 6 * 3600 * 1000;  // sessionStorage copies older than this are fetched again
  var loading = Object.create(null);
  var count = 0;

  function option(box, name, fallback) {
    var value = box.getAttribute("data-" + name);
    if (value === null && script) value = script.getAttribute("data-" + name);
    return value === null || value === "" ? fallback : value;
  }

  function warn(message, error) {
    try {
      console.warn("recsys related.js: " + message, error ? String(error) : "");
    } catch (e) { /* no console */ }
  }

  function store() {
    try { return window.sessionStorage; } catch (e) { return null; }
  }

  function slim(doc) {  // only what is shown is kept in sessionStorage
    var given = doc && typeof doc === "object" ? doc.items : null;
    if (!given || typeof given !== "object" || Array.isArray(given)) {
      throw new Error("not a related.json document");
    }
    var items = {};
    Object.keys(given).forEach(function (key) {
      var list = given[key];
      if (typeof key !== "string" || !SAFE.test(key) || !Array.isArray(list)) return;
      items[key] = list.filter(function (r) {
        return r && typeof r.url === "string";
      }).map(function (r) {
        return typeof r.title === "string" ? {url: r.url, title: r.title} : {url: r.url};
      });
    });
    return {items: items};
  }

  function load(url) {
    if (loading[url]) return loading[url];
    var storage = store(), key = "recsys-related:" + url;
    try {
      var hit = storage && JSON.parse(storage.getItem(key));
      if (hit && hit.items && Date.now() - hit.time < MAX_AGE) return (loading[url] = Promise.resolve(hit));
    } catch (e) { /* a broken copy is fetched again */ }
    loading[url] = fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status + " for " + url);
        return response.json();
      })
      .then(function (doc) {
        var data = slim(doc);
        data.time = Date.now();
        try { if (storage) storage.setItem(key, JSON.stringify(data)); } catch (e) { /* full or disabled */ }
        return data;
      });
    return loading[url];
  }

  function canonical(path) {  // as recsys.urls.normalize_urls
    path = path.replace(/\/{2,}/g, "/");
    try {
      path = encodeURIComponent(decodeURIComponent(path))
        .replace(/%(?:2F|3A|40|24|26|2B|2C|3B|3D)/g, decodeURIComponent);
    } catch (e) { /* malformed escapes: left as they are */ }
    return path;
  }

  function forms(url) {  // without, then with, the path's trailing slash
    var at = url.indexOf("?"), query = at < 0 ? "" : url.slice(at);
    var bare = (at < 0 ? url : url.slice(0, at)).replace(/\/+$/, "");
    return bare ? [bare + query, bare + "/" + query] : ["/" + query];
  }

  function render(box, data) {
    var pattern = new RegExp(option(box, "pattern", "^/archives/\\d+$"));
    var limit = parseInt(option(box, "limit", "10"), 10) || 10;
    var matches = function (form) { return pattern.test(form); };
    var here = canonical(window.location.pathname), list = null, seen = Object.create(null);
    [here].concat(forms(here)).forEach(function (key) {  // the path as it is first
      seen[key] = true;
      if (list === null && Object.prototype.hasOwnProperty.call(data.items, key)) list = data.items[key];
    });
    var ol = document.createElement("ol");
    for (var i = 0; Array.isArray(list) && i < list.length && ol.childNodes.length < limit; i++) {
      var r = list[i], url = r && r.url;
      if (typeof url !== "string" || !SAFE.test(url) || !forms(url).some(matches) || seen[url]) continue;
      if (new URL(url, window.location.href).origin !== window.location.origin) continue;
      seen[url] = true;
      var title = typeof r.title === "string" ? r.title.replace(/\s+/g, " ").trim().slice(0, 300) : "";
      var a = document.createElement("a");
      a.setAttribute("href", url);
      a.textContent = title || url;
      var li = document.createElement("li");
      li.appendChild(a);
      ol.appendChild(li);
    }
    if (!ol.childNodes.length) {
      box.setAttribute("data-recsys-state", "empty");
      return;
    }
    var id = "recsys-related-title-" + (++count);
    var nav = document.createElement("nav");
    nav.className = "recsys-related";
    nav.style.display = "flow-root";  // the heading's margins stay inside the reserved box: no shift
    nav.setAttribute("aria-labelledby", id);
    var h2 = document.createElement("h2");
    h2.id = id;
    h2.textContent = option(box, "heading", "Readers also read");
    nav.appendChild(h2);
    nav.appendChild(ol);
    while (box.firstChild) box.removeChild(box.firstChild);
    box.appendChild(nav);
    box.setAttribute("data-recsys-state", "shown");
  }

  function start() {
    var boxes = document.querySelectorAll("[data-recsys-related]");
    Array.prototype.forEach.call(boxes, function (box) {
      try {
        var base = script && script.src ? script.src : window.location.href;
        var fallback = script && script.src ? "related.json" : "/related.json";
        var src = new URL(option(box, "src", fallback), base).href;
        load(src).then(function (data) { render(box, data); }).catch(function (error) {
          box.setAttribute("data-recsys-state", "error");
          warn("no list shown", error);
        });
      } catch (error) {
        box.setAttribute("data-recsys-state", "error");
        warn("no list shown", error);
      }
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
