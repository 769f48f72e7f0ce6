/* Sentinelle map: draws MapLayer JSON with the vendored Leaflet. No network beyond this server
   (plus OSM / satellite base tiles when the server says it is online).

   Two ways to get layers:
   - live:     SentinelleMap.live(sid)       long-polls /api/map/<sid>?rev=N and redraws on change;
   - embedded: SentinelleMap.embedded(state) draws a fixed state (HTML reports).
   The page hands over its data in <script type="application/json"> blocks (sn-map-config, and sn-map-live or
   sn-map-state), read here and started without any inline script. Nothing from layer data becomes markup:
   names, popups and legends are text nodes or fully escaped, styles keep only plain drawing options.         */
(function () {
  "use strict";
  function readJSON(id) {
    var el = document.getElementById(id);
    if (!el) return null;
    try { return JSON.parse(el.textContent); } catch (e) { return null; }
  }
  var cfg = readJSON("sn-map-config") || {};
  var map, control, legend, status;
  var drawn = {};      // name -> {key, layer}
  var lastFocus = null; // view.focus last flown to: a click on a search thumbnail in the chat sets a new one
  var catalogGroup = null;
  var CATALOG_MIN_ZOOM = cfg.catalogMinZoom || 10;

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  var STYLE_KEYS = ["color", "weight", "opacity", "fillOpacity", "fillColor", "dashArray", "radius", "fill",
                    "stroke", "maxNativeZoom", "minZoom"];
  var COLOR = /^(#[0-9a-fA-F]{3,8}|[a-zA-Z]{1,24}|rgba?\([0-9.,\s%]{1,40}\))$/;

  // Only plain drawing options: no attribution, no pane/renderer objects, no strings with markup in them.
  function cleanStyle(st) {
    var out = {};
    if (!st || typeof st !== "object") return out;
    STYLE_KEYS.forEach(function (k) {
      var v = st[k];
      if (typeof v === "number" && isFinite(v)) out[k] = v;
      else if (typeof v === "boolean") out[k] = v;
      else if (typeof v === "string" && /^[#\w\s.,()%-]{0,64}$/.test(v)) out[k] = v;
    });
    return out;
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = String(text);
    return node;
  }

  function boundsOf(b) { return L.latLngBounds([b[1], b[0]], [b[3], b[2]]); }
  function validBox(b) {
    return Array.isArray(b) && b.length === 4 && b.every(function (v) { return typeof v === "number" && isFinite(v); });
  }

  function popupOf(props) {
    if (!props || typeof props !== "object") return null;
    var table = el("table", "sn-popup"), n = 0;
    Object.keys(props).slice(0, 12).forEach(function (k) {
      var v = props[k];
      if (v === null || typeof v === "object") return;
      var row = el("tr");
      row.appendChild(el("th", null, k));
      row.appendChild(el("td", null, v));
      table.appendChild(row);
      n += 1;
    });
    return n ? table : null;
  }

  function makeLayer(spec) {
    var st = cleanStyle(spec.style);
    var bounds = spec.bounds ? boundsOf(spec.bounds) : null;
    // before/after/score layers of a comparison go to compare.js's panes (swipe clip, order)
    var comparePane = window.SentinelleCompare ? window.SentinelleCompare.paneFor(map, spec) : undefined;
    switch (spec.kind) {
      case "tiles":
        var topt = { opacity: st.opacity == null ? 1 : st.opacity, maxZoom: 22, maxNativeZoom: st.maxNativeZoom || 18,
                     minZoom: st.minZoom || 0 };  // no attribution from layer data: Leaflet shows it as HTML
        if (bounds) topt.bounds = bounds.pad(0.01);
        if (comparePane) topt.pane = comparePane;
        return L.tileLayer(spec.url, topt);
      case "image":
        if (!bounds) return null;
        var iopt = { opacity: st.opacity == null ? 1 : st.opacity };
        if (comparePane) iopt.pane = comparePane;
        return L.imageOverlay(spec.url, bounds, iopt);
      case "bounds":
        if (!bounds) return null;
        return L.rectangle(bounds, L.extend({ color: "#ff7800", weight: 2, fill: false }, st, { className: "sn-layer" }));
      case "marker":
        if (!spec.point) return null;
        var m = L.marker([spec.point[1], spec.point[0]], { title: spec.name });
        m.bindPopup(el("b", null, spec.name));
        return m;
      case "geojson":
        if (!spec.data) return null;
        var zoomOnClick = !!(spec.style && spec.style.zoom_on_click === true);  // search results: click to zoom
        return L.geoJSON(spec.data, {
          style: function (f) {
            var fs = cleanStyle(f && f.properties && f.properties.style);
            return L.extend({ color: "#3388ff", weight: 2, fillOpacity: 0.2 }, st, fs, { className: "sn-layer" });
          },
          pointToLayer: function (f, latlng) {
            return L.circleMarker(latlng, L.extend({ radius: 6, color: "#3388ff", fillOpacity: 0.8 }, st,
              { className: "sn-layer" }));
          },
          onEachFeature: function (f, layer) {
            var popup = popupOf(f.properties);
            if (popup) layer.bindPopup(popup);
            if (zoomOnClick && layer.getBounds) {
              layer.on("click", function () {
                var b = layer.getBounds();
                if (b.isValid()) map.flyToBounds(b, { maxZoom: 17, duration: 0.8, padding: [30, 30] });
              });
            }
          }
        });
    }
    return null;
  }

  function extentOf(spec, layer) {
    if (spec.bounds) return boundsOf(spec.bounds);
    if (spec.point) return L.latLng(spec.point[1], spec.point[0]);
    if (layer && layer.getBounds) {
      try { var b = layer.getBounds(); if (b.isValid()) return b; } catch (e) { /* empty layer */ }
    }
    return null;
  }

  function flyTo(target) {
    if (!target) return;
    if (target instanceof L.LatLng) map.flyTo(target, Math.max(map.getZoom(), 12), { duration: 0.8 });
    else map.flyToBounds(target, { maxZoom: 16, duration: 0.8, padding: [20, 20] });
  }

  function updateLegend(layers) {
    var box = legend.getContainer(), n = 0;
    while (box.firstChild) box.removeChild(box.firstChild);
    layers.forEach(function (spec) {
      if (!spec.legend || typeof spec.legend !== "object" || spec.visible === false) return;
      box.appendChild(el("div", "sn-legend-title", spec.name));
      Object.keys(spec.legend).forEach(function (label) {
        var row = el("div"), swatch = el("i"), color = spec.legend[label];
        if (typeof color === "string" && COLOR.test(color)) swatch.style.background = color;
        row.appendChild(swatch);
        row.appendChild(document.createTextNode(label));
        box.appendChild(row);
        n += 1;
      });
    });
    box.style.display = n ? "block" : "none";
  }

  function setLayers(layers, view, animate) {
    var seen = {};
    var flyTarget = null;
    layers.forEach(function (spec) {
      var key = JSON.stringify(spec);
      seen[spec.name] = true;
      var old = drawn[spec.name];
      if (old && old.key === key) return;
      if (old) { map.removeLayer(old.layer); control.removeLayer(old.layer); }
      var layer = makeLayer(spec);
      if (!layer) return;
      drawn[spec.name] = { key: key, layer: layer };
      control.addOverlay(layer, esc(spec.name));
      if (spec.visible !== false) layer.addTo(map);
      if (spec.fly_to) flyTarget = extentOf(spec, layer);
    });
    Object.keys(drawn).forEach(function (name) {
      if (!seen[name]) { map.removeLayer(drawn[name].layer); control.removeLayer(drawn[name].layer); delete drawn[name]; }
    });
    updateLegend(layers);
    if (window.SentinelleCompare) window.SentinelleCompare.update(map, layers, drawn);
    if (window.SentinelleTimeline) window.SentinelleTimeline.update(map, layers, drawn);
    var focus = view && view.focus != null && validBox(view.bounds) ? String(view.focus) : null;
    var newFocus = focus !== null && focus !== lastFocus;
    if (focus !== null) lastFocus = focus;
    if (newFocus && animate) {
      flyTo(boundsOf(view.bounds));
    } else if (flyTarget) {
      if (animate) flyTo(flyTarget);
      else if (flyTarget instanceof L.LatLng) map.setView(flyTarget, 12);
      else map.fitBounds(flyTarget, { maxZoom: 16 });
    } else if (view && !animate) {
      if (view.bounds) map.fitBounds(boundsOf(view.bounds));
      else if (view.center) map.setView([view.center[1], view.center[0]], view.zoom || 10);
    } else if (!animate && layers.length) {
      var all = null;
      layers.forEach(function (spec) {
        var d = drawn[spec.name], e = extentOf(spec, d && d.layer);
        if (!e) return;
        if (e instanceof L.LatLng) e = L.latLngBounds(e, e);
        all = all ? all.extend(e) : L.latLngBounds(e.getSouthWest(), e.getNorthEast());
      });
      if (all && all.isValid()) map.fitBounds(all, { maxZoom: 14, padding: [20, 20] });
    }
    document.body.setAttribute("data-layer-count", String(Object.keys(drawn).length));
    document.body.setAttribute("data-layers", Object.keys(drawn).join("|"));
  }

  function addCatalog(items) {
    if (!items || !items.length) return;
    catalogGroup = L.layerGroup();
    var outlines = L.layerGroup();
    items.forEach(function (it) {
      var b = boundsOf(it.bbox);
      if (it.tiles) {
        // Only from CATALOG_MIN_ZOOM: below it a tile would read a whole scene, for a few pixels.
        L.tileLayer(it.tiles, { bounds: b.pad(0.01), minZoom: CATALOG_MIN_ZOOM, maxZoom: 22, maxNativeZoom: 18 })
          .addTo(catalogGroup);
      }
      L.rectangle(b, { color: "#ffcc00", weight: 1, fill: false, dashArray: "4 3", className: "sn-catalog" })
        .bindTooltip(esc(it.id) + (it.datetime ? " — " + esc(it.datetime.slice(0, 10)) : "")).addTo(outlines);
    });
    catalogGroup.addTo(map);
    outlines.addTo(map);  // where imagery exists, visible at every zoom (the imagery itself from CATALOG_MIN_ZOOM)
    control.addOverlay(catalogGroup, "Catalog imagery");
    control.addOverlay(outlines, "Catalog footprints");
  }

  function init(el) {
    L.Icon.Default.imagePath = (cfg.staticBase || "/static") + "/leaflet/images/";
    // Zoom bounds set here: left unset, Leaflet takes them from the tile layers, and the catalog imagery (drawn from
    // zoom 10) would stop anyone zooming out past 10 now that the base map is vector, not tiles.
    map = L.map(el, { worldCopyJump: true, zoomControl: true, minZoom: 1, maxZoom: 22 }).setView([46.5, 2.5], 5);
    var bases = {};
    var blank = L.tileLayer("", { attribution: "Sentinelle (offline)" });
    if (window.SentinelleBasemap) {
      bases = window.SentinelleBasemap.install(map, cfg);  // Natural Earth by default; OSM and Esri when online
    } else if (cfg.online) {
      bases["OpenStreetMap"] = L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        { maxZoom: 19, attribution: "© OpenStreetMap contributors" });
      bases["Satellite (Esri)"] = L.tileLayer(
        "https://server.arcgisonline.com/ArcGIS/rest/services/World_Imagery/MapServer/tile/{z}/{y}/{x}",
        { maxZoom: 19, attribution: "Esri World Imagery" });
      bases["OpenStreetMap"].addTo(map);
    } else {
      bases["No base map (offline)"] = blank;
      blank.addTo(map);
    }
    control = L.control.layers(bases, {}, { collapsed: false }).addTo(map);
    legend = L.control({ position: "bottomright" });
    legend.onAdd = function () { var d = L.DomUtil.create("div", "sn-legend"); d.style.display = "none"; return d; };
    legend.addTo(map);
    L.control.scale({ imperial: false }).addTo(map);
    status = L.control({ position: "bottomleft" });
    status.onAdd = function () { return L.DomUtil.create("div", "sn-status"); };
    status.addTo(map);
    addCatalog(cfg.catalog);
    window.sentinelleLeaflet = map;
    return map;
  }

  function setStatus(text) { if (status) status.getContainer().textContent = text || ""; }

  function live(sid, el) {
    init(el || "map");
    var rev = 0;
    var first = true;
    function poll() {
      fetch((cfg.apiBase || "/api/map/") + encodeURIComponent(sid) + "?rev=" + rev, { cache: "no-store" })
        .then(function (r) {
          if (r.status === 404) { setStatus("session expired — reload the page"); return null; }
          return r.json();
        })
        .then(function (state) {
          if (!state) return;
          if (state.rev !== rev) {
            rev = state.rev;
            setLayers(state.layers || [], state.view, !first);
            first = false;
            document.body.setAttribute("data-rev", String(rev));
          }
          setStatus("");
          setTimeout(poll, 50);
        })
        .catch(function () { setStatus("reconnecting…"); setTimeout(poll, 2000); });
    }
    poll();
  }

  function embedded(state, el) {
    init(el || "map");
    setLayers(state.layers || [], state.view, false);
  }

  window.SentinelleMap = { live: live, embedded: embedded, setLayers: setLayers };

  var liveData = readJSON("sn-map-live"), stateData = readJSON("sn-map-state");
  if (liveData && typeof liveData.sid === "string") live(liveData.sid);
  else if (stateData) embedded(stateData);
})();
