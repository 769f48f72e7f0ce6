/* Sentinelle map: draws MapLayer JSON with the vendored Leaflet. No network beyond this server
   (plus OSM / satellite base tiles when the server says it is online).

   Two ways to get layers:
   - live:     SentinelleMap.live(sid)       long-polls /api/map/<sid>?rev=N and redraws on change;
   - embedded: SentinelleMap.embedded(state) draws a fixed state (HTML reports).                      */
(function () {
  "use strict";
  var cfg = window.SENTINELLE_MAP_CONFIG || {};
  var map, control, legend, status;
  var drawn = {};      // name -> {key, layer}
  var catalogGroup = null;
  var CATALOG_MIN_ZOOM = cfg.catalogMinZoom || 10;

  function esc(s) {
    return String(s).replace(/[&<>"]/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c];
    });
  }

  function boundsOf(b) { return L.latLngBounds([b[1], b[0]], [b[3], b[2]]); }

  function popupOf(props) {
    if (!props) return "";
    var rows = [];
    Object.keys(props).slice(0, 12).forEach(function (k) {
      var v = props[k];
      if (v === null || typeof v === "object") return;
      rows.push("<tr><th>" + esc(k) + "</th><td>" + esc(v) + "</td></tr>");
    });
    return rows.length ? "<table class='sn-popup'>" + rows.join("") + "</table>" : "";
  }

  function makeLayer(spec) {
    var st = spec.style || {};
    var bounds = spec.bounds ? boundsOf(spec.bounds) : null;
    switch (spec.kind) {
      case "tiles":
        var topt = { opacity: st.opacity == null ? 1 : st.opacity, maxZoom: 22, maxNativeZoom: st.maxNativeZoom || 18,
                     minZoom: st.minZoom || 0, attribution: st.attribution || "" };
        if (bounds) topt.bounds = bounds.pad(0.01);
        return L.tileLayer(spec.url, topt);
      case "image":
        if (!bounds) return null;
        return L.imageOverlay(spec.url, bounds, { opacity: st.opacity == null ? 1 : st.opacity });
      case "bounds":
        if (!bounds) return null;
        return L.rectangle(bounds, L.extend({ color: "#ff7800", weight: 2, fill: false }, st, { className: "sn-layer" }));
      case "marker":
        if (!spec.point) return null;
        var m = L.marker([spec.point[1], spec.point[0]], { title: spec.name });
        m.bindPopup("<b>" + esc(spec.name) + "</b>");
        return m;
      case "geojson":
        if (!spec.data) return null;
        return L.geoJSON(spec.data, {
          style: function (f) {
            var fs = (f && f.properties && f.properties.style) || {};
            return L.extend({ color: "#3388ff", weight: 2, fillOpacity: 0.2 }, st, fs, { className: "sn-layer" });
          },
          pointToLayer: function (f, latlng) {
            return L.circleMarker(latlng, L.extend({ radius: 6, color: "#3388ff", fillOpacity: 0.8 }, st,
              { className: "sn-layer" }));
          },
          onEachFeature: function (f, layer) {
            var html = popupOf(f.properties);
            if (html) layer.bindPopup(html);
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
    var rows = [];
    layers.forEach(function (spec) {
      if (!spec.legend || spec.visible === false) return;
      rows.push("<div class='sn-legend-title'>" + esc(spec.name) + "</div>");
      Object.keys(spec.legend).forEach(function (label) {
        rows.push("<div><i style='background:" + esc(spec.legend[label]) + "'></i>" + esc(label) + "</div>");
      });
    });
    legend.getContainer().innerHTML = rows.join("");
    legend.getContainer().style.display = rows.length ? "block" : "none";
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
    if (flyTarget) {
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
    map = L.map(el, { worldCopyJump: true, zoomControl: true }).setView([46.5, 2.5], 5);
    var bases = {};
    var blank = L.tileLayer("", { attribution: "Sentinelle (offline)" });
    if (cfg.online) {
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
})();
