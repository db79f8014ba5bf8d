/*! recsys related.js: "Readers also read" for any blog, from recsys's related.json and next.json.
 * MIT licence. No dependencies.
 *
 *   <div data-recsys-related style="min-height: 16em"></div>
 *   <script src="/recsys/related.js" defer></script>
 *
 * Options, as data- attributes on the container or on the script tag (the container's win):
 *   data-src            the related.json URL (default: related.json next to this script)
 *   data-next           the next.json URL (default: next.json next to related.json)
 *   data-personal       "off": always the article's list, and nothing remembered
 *   data-pattern        the article pattern, a regular expression (default: ^/archives/\d+$)
 *   data-heading        the heading (default: Readers also read)
 *   data-limit          the most links shown (default: 10)
 * The container gets data-recsys-state="shown", "empty" or "error" when done, and
 * data-recsys-list="personal" or "article" when shown.
 * Only same-origin links whose path matches the pattern are made; text is set with textContent.
 * The trailing slash does not matter: paths are tried with and without it, as recsys does.
 *
 * Personal lists: the articles this reader opened (their paths, the latest 50 distinct, oldest
 * first) stay in this browser's localStorage under "recsys-history", for this site only, and are
 * never sent anywhere. From the second article on, the list is ranked from next.json's rules over
 * the latest of them, as recsys ranks a reading history (Model.lists_next), without what was read;
 * a first visit, or no localStorage, or no next.json, shows the article's list. To forget:
 * localStorage.removeItem("recsys-history"), or clear the site's data in the browser.
 */
(function () {
  "use strict";
  if (!window.fetch || !window.Promise || !document.querySelectorAll) return;
  var script = document.currentScript;
  var SAFE = /^\/(?!\/)[^\s\\\x00-\x1f\x7f"'<>`]*$/;
  var MAX_AGE = 6 * 3600 * 1000;  // sessionStorage copies older than this are fetched again
  var MAX_HISTORY = 50;  // the distinct articles remembered (recsys.export.WIDGET_HISTORY)
  var MAX_URL = 512;  // longer paths are not remembered
  var HISTORY = "recsys-history";
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

  function store(name) {
    try { return window[name] || null; } catch (e) { return null; }
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

  function slimNext(doc) {  // next.json checked: what personal() reads, and only that
    var n = doc && typeof doc === "object" && doc.version === 1 && Array.isArray(doc.articles) ? doc.articles.length : -1;
    if (n < 0 || !Array.isArray(doc.popularity) || doc.popularity.length !== n || !Array.isArray(doc.rules) ||
        doc.rules.length !== n || !Array.isArray(doc.fill)) {
      throw new Error("not a next.json document");
    }
    var titles = Array.isArray(doc.titles) && doc.titles.length === n ? doc.titles : [];
    var articles = doc.articles.map(function (url) {
      return typeof url === "string" && SAFE.test(url) ? url : null;
    });
    var known = function (x) { return typeof x === "number" && x % 1 === 0 && x >= 0 && x < n && articles[x] !== null; };
    var positive = function (x, fallback) { return typeof x === "number" && x % 1 === 0 && x >= 1 ? x : fallback; };
    return {
      next: true, k: positive(doc.k, 5), recent: positive(doc.recent, 5), articles: articles,
      titles: articles.map(function (url, i) { return typeof titles[i] === "string" ? titles[i] : null; }),
      popularity: doc.popularity.map(function (p, i) { return typeof p === "number" && isFinite(p) ? p : n + i; }),
      fill: doc.fill.filter(known),
      rules: doc.rules.map(function (tiers) {  // [tier-1 pairs, tier-2 pairs] as [consequent, score, tier]
        var out = [];
        [1, 2].forEach(function (tier) {
          var flat = Array.isArray(tiers) && tiers.length === 2 && Array.isArray(tiers[tier - 1]) ? tiers[tier - 1] : [];
          for (var i = 0; i + 1 < flat.length; i += 2) {
            var score = flat[i + 1];
            if (known(flat[i]) && typeof score === "number" && isFinite(score) && score >= 0) {
              out.push([flat[i], score, tier]);
            }
          }
        });
        return out;
      })
    };
  }

  function load(url, check) {  // check: slim or slimNext; a next.json that is not there gives null
    if (loading[url]) return loading[url];
    var storage = store("sessionStorage"), key = "recsys-related:" + url;
    try {
      var hit = storage && JSON.parse(storage.getItem(key));
      if (hit && (hit.items || hit.next || hit.none) && Date.now() - hit.time < MAX_AGE) {
        return (loading[url] = Promise.resolve(hit.none ? null : hit));
      }
    } catch (e) { /* a broken copy is fetched again */ }
    loading[url] = fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (response) {
        if (response.status === 404 && check === slimNext) return {none: true};
        if (!response.ok) throw new Error("HTTP " + response.status + " for " + url);
        return response.json();
      })
      .then(function (doc) {
        var data = doc && doc.none === true ? doc : check(doc);
        data.time = Date.now();
        try { if (storage) storage.setItem(key, JSON.stringify(data)); } catch (e) { /* full or disabled */ }
        return data.none ? null : data;
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

  function matcher(box) {
    var pattern = new RegExp(option(box, "pattern", "^/archives/\\d+$"));
    return function (url) { return forms(url).some(function (form) { return pattern.test(form); }); };
  }

  function remember(article, matches) {  // the history with this article last; null without localStorage
    var storage = store("localStorage"), history = [];
    if (!storage) return null;
    try {
      history = JSON.parse(storage.getItem(HISTORY)) || [];
    } catch (e) { /* a broken history starts again */ }
    history = (Array.isArray(history) ? history : []).filter(function (url) {
      return typeof url === "string" && url.length <= MAX_URL && SAFE.test(url) && matches(url) && url !== article;
    });
    if (article !== null && article.length <= MAX_URL) history.push(article);
    history = history.filter(function (url, i) { return history.lastIndexOf(url) === i; }).slice(-MAX_HISTORY);
    try {
      storage.setItem(HISTORY, JSON.stringify(history));
    } catch (e) {
      return null;  // full or disabled: no personal list
    }
    return history;
  }

  function personal(next, history) {  // as recsys.sequences.rank on one history: same scores and order
    var index = next.index, i, j;
    if (!index) {
      index = next.index = Object.create(null);
      next.articles.forEach(function (url, x) { if (url !== null) index[url] = x; });
    }
    var code = function (url) {  // the article's key in next.json, in either trailing-slash form
      if (index[url] !== undefined) return index[url];
      var found = forms(url).filter(function (form) { return index[form] !== undefined; });
      return found.length ? index[found[0]] : -1;
    };
    var read = Object.create(null), latest = [], seen = Object.create(null);
    var keys = history.map(function (url) { var x = code(url); return x >= 0 ? x : "?" + url; });
    keys.forEach(function (key) { read[key] = true; });
    for (i = keys.length - 1; i >= 0 && latest.length < next.recent; i--) {
      if (!seen[keys[i]]) latest.push(keys[i]);
      seen[keys[i]] = true;
    }
    var weights = [];
    latest.forEach(function (key, at) { if (typeof key === "number") weights.push([key, 1 / (1 + at)]); });
    weights.sort(function (a, b) { return a[0] - b[0]; });  // summed in the model's order, as recsys sums
    var score = [], trusted = [], candidates = [];
    weights.forEach(function (w) {
      next.rules[w[0]].forEach(function (r) {
        if (score[r[0]] === undefined) {
          score[r[0]] = 0;
          candidates.push(r[0]);
        }
        score[r[0]] += w[1] * r[1];
        if (r[2] === 1) trusted[r[0]] = true;
      });
    });
    var chosen = candidates.filter(function (x) { return !read[x] && score[x] > 0; });
    chosen.sort(function (a, b) {  // tier, score, popularity (trusted readers, then URL)
      return (trusted[b] ? 1 : 0) - (trusted[a] ? 1 : 0) || score[b] - score[a] ||
        next.popularity[a] - next.popularity[b] || a - b;
    });
    chosen = chosen.slice(0, next.k);
    var taken = Object.create(null);
    chosen.forEach(function (x) { taken[x] = true; });
    for (j = 0; j < next.fill.length && chosen.length < next.k; j++) {
      if (!read[next.fill[j]] && !taken[next.fill[j]]) chosen.push(next.fill[j]);
      taken[next.fill[j]] = true;
    }
    return chosen.map(function (x) {
      return next.titles[x] === null ? {url: next.articles[x]} : {url: next.articles[x], title: next.titles[x]};
    });
  }

  function listOf(data, here) {  // the article's own list in related.json: the path as it is first
    var list = null;
    [here].concat(forms(here)).forEach(function (key) {
      if (list === null && Object.prototype.hasOwnProperty.call(data.items, key)) list = data.items[key];
    });
    return list;
  }

  function render(box, list, kind, read) {
    var matches = matcher(box);
    var limit = parseInt(option(box, "limit", "10"), 10) || 10;
    var here = canonical(window.location.pathname), seen = Object.create(null);
    [here].concat(forms(here), read || []).forEach(function (url) {
      forms(url).concat([url]).forEach(function (form) { seen[form] = true; });
    });
    var ol = document.createElement("ol");
    for (var i = 0; Array.isArray(list) && i < list.length && ol.childNodes.length < limit; i++) {
      var r = list[i], url = r && r.url;
      if (typeof url !== "string" || !SAFE.test(url) || !matches(url) || seen[url]) continue;
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
    box.setAttribute("data-recsys-list", kind);
    box.setAttribute("data-recsys-state", "shown");
  }

  function failed(box, error) {  // whatever the box held (a static list, say) stays
    box.setAttribute("data-recsys-state", "error");
    warn("no list shown", error);
  }

  function show(box, history) {
    var base = script && script.src ? script.src : window.location.href;
    var fallback = script && script.src ? "related.json" : "/related.json";
    var src = new URL(option(box, "src", fallback), base).href;
    var here = canonical(window.location.pathname);
    var ranked = Promise.resolve(null);
    if (history && history.length >= 2) {  // not a first visit: the reader's own list
      ranked = load(new URL(option(box, "next", "next.json"), src).href, slimNext).then(function (next) {
        return next ? personal(next, history) : null;
      }).catch(function (error) {
        warn("no personal list", error);
        return null;
      });
    }
    ranked.then(function (list) {
      if (list && list.length) return render(box, list, "personal", history);
      return load(src, slim).then(function (data) { render(box, listOf(data, here), "article", history); });
    }).catch(function (error) { failed(box, error); });
  }

  function start() {
    var boxes = document.querySelectorAll("[data-recsys-related]"), history = null;
    if (boxes.length && option(boxes[0], "personal", "on") !== "off") {
      try {
        var matches = matcher(boxes[0]), here = canonical(window.location.pathname);
        var article = forms(here).filter(matches)[0];
        history = article ? remember(article, matches) : null;  // only articles are remembered
      } catch (error) {
        warn("no history kept", error);
      }
    }
    Array.prototype.forEach.call(boxes, function (box) {
      try {
        show(box, option(box, "personal", "on") !== "off" ? history : null);
      } catch (error) {
        failed(box, error);
      }
    });
  }

  window.recsysRelated = {  // what the widget ranks with, for tests and for pages that show lists themselves
    personal: function (doc, history) { return personal(slimNext(doc), history); }
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
