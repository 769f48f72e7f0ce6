/* Sentinelle offline base map: Natural Earth land, water, borders, towns and their names, drawn as vectors.

   Live pages fetch /basemap/<layer>.json?z=..&bbox=.. (simplified per zoom band, clipped to the view) and fetch
   again when the view leaves what they hold or the zoom band changes. Self-contained pages (reports, notebooks)
   hand over a few bundles in <script type="application/json" id="sn-basemap-data">, drawn from their min zoom.
   Everything draws on one canvas in a pane under the imagery; place names are tooltips made of text nodes, shown
   by SCALERANK per zoom and thinned where they would overlap. Used by map.js through SentinelleBasemap.install. */
(function () {
  "use strict";
  var OCEAN = "#c9dbe8";
  var STYLES = {
    ocean: { stroke: false, fill: true, fillColor: OCEAN, fillOpacity: 1 },
    land: { stroke: false, fill: true, fillColor: "#f3f0e8", fillOpacity: 1 },
    lakes: { color: "#a9c3d6", weight: 0.6, fill: true, fillColor: OCEAN, fillOpacity: 1 },
    urban: { stroke: false, fill: true, fillColor: "#e6dccd", fillOpacity: 1 },
    rivers: { color: "#a9c3d6", weight: 1, fill: false },
    coastline: { color: "#93afc4", weight: 0.8, fill: false },
    admin1: { color: "#c2b3cc", weight: 0.7, dashArray: "3 3", fill: false },
    countries: { color: "#9c87a8", weight: 1.2, fill: false }
  };
  var PLACE_STYLE = { radius: 2.5, color: "#5b5b5b", weight: 1, fill: true, fillColor: "#ffffff", fillOpacity: 1 };
  var DEFAULT_LAYERS = [
    { name: "ocean", min_zoom: 0 }, { name: "land", min_zoom: 0 }, { name: "lakes", min_zoom: 3 },
    { name: "urban", min_zoom: 5 }, { name: "rivers", min_zoom: 3 }, { name: "coastline", min_zoom: 0 },
    { name: "admin1", min_zoom: 4 }, { name: "countries", min_zoom: 0 }, { name: "places", min_zoom: 0 }
  ];
  var BAND_MAX = [2, 4, 6, 24];

  function labelRank(z) { return z >= 7 ? 10 : Math.max(0, z - 2); }
  function bandOf(z) { for (var i = 0; i < BAND_MAX.length; i++) if (z <= BAND_MAX[i]) return i; return BAND_MAX.length - 1; }

  function readJSON(id) {
    var node = document.getElementById(id);
    if (!node) return null;
    try { return JSON.parse(node.textContent); } catch (e) { return null; }
  }

  function ensurePane(map, name, z) {
    var pane = map.getPane(name) || map.createPane(name);
    pane.style.zIndex = String(z);
    pane.style.pointerEvents = "none";
    return pane;
  }

  // The base map as one Leaflet layer (so the layer control can swap it for OpenStreetMap).
  var NaturalEarth = L.Layer.extend({
    initialize: function (options) {
      L.setOptions(this, options);
      this._groups = {};       // source key -> L.LayerGroup of drawn vectors
      this._places = [];       // [{latlng, name, rank}]
      this._labels = null;
      this._seq = 0;
      this._held = null;       // live mode: {key, bounds}
    },

    onAdd: function (map) {
      ensurePane(map, "sn-base", 150);
      ensurePane(map, "sn-base-labels", 450);
      this._renderer = L.canvas({ pane: "sn-base", padding: 0.5 });
      this._root = L.layerGroup().addTo(map);
      this._labels = L.layerGroup().addTo(map);
      map.getContainer().style.background = OCEAN;
      map.on("moveend", this._refresh, this);
      if (this.options.bundles) this._drawBundles();
      else this._refresh();
    },

    onRemove: function (map) {
      map.off("moveend", this._refresh, this);
      map.removeLayer(this._root);
      map.removeLayer(this._labels);
      map.getContainer().style.background = "";
      this._groups = {};
      this._held = null;
      this._seq += 1;
    },

    getAttribution: function () { return "Natural Earth (public domain)"; },

    // --- drawing ------------------------------------------------------------------------------------------------
    _vector: function (name, fc) {
      var renderer = this._renderer, places = this._places;
      if (name === "places") {
        var group = L.layerGroup();
        (fc.features || []).forEach(function (f) {
          var c = f.geometry && f.geometry.coordinates, p = f.properties || {};
          if (!c || typeof c[0] !== "number") return;
          var latlng = L.latLng(c[1], c[0]);
          L.circleMarker(latlng, L.extend({ renderer: renderer, interactive: false }, PLACE_STYLE)).addTo(group);
          if (typeof p.name === "string") places.push({ latlng: latlng, name: p.name, rank: Number(p.scalerank) || 0 });
        });
        return group;
      }
      var style = STYLES[name] || { color: "#999", weight: 1 };
      return L.geoJSON(fc, { style: function () { return L.extend({ renderer: renderer, interactive: false }, style); } });
    },

    _replace: function (key, layers) {
      if (this._groups[key]) this._root.removeLayer(this._groups[key]);
      var group = L.layerGroup(layers);
      group.snFeatures = layers;
      this._groups[key] = group;
      this._root.addLayer(group);
    },

    _drawBundles: function () {
      var self = this, map = this._map;
      this._places = [];
      (this.options.bundles || []).forEach(function (bundle, i) {
        var shown = map.getZoom() >= (bundle.min_zoom || 0);
        var key = "bundle" + i;
        if (!shown) { if (self._groups[key]) { self._root.removeLayer(self._groups[key]); delete self._groups[key]; } return; }
        if (self._groups[key] && self._groups[key].snShown) { collectPlaces(self, bundle); return; }
        var layers = DEFAULT_LAYERS.filter(function (l) { return bundle.layers && bundle.layers[l.name]; })
          .map(function (l) { var v = self._vector(l.name, bundle.layers[l.name]); v.snName = l.name; return v; });
        self._replace(key, layers);
        self._groups[key].snShown = true;
      });
      // the finer bundles were added last, so they draw on top of the coarse world
      this._relabel();
      this._ready();
    },

    _refresh: function () {
      if (this.options.bundles) { this._drawBundles(); return; }
      var map = this._map;
      if (!map) return;
      var z = map.getZoom(), band = bandOf(z);
      var pad = map.getBounds().pad(0.5);
      var w = Math.max(-180, pad.getWest()), e = Math.min(180, pad.getEast());
      var s = Math.max(-90, pad.getSouth()), n = Math.min(90, pad.getNorth());
      if (w >= e) { w = -180; e = 180; }
      if (s >= n) { s = -90; n = 90; }
      var want = L.latLngBounds([s, w], [n, e]);
      var layers = DEFAULT_LAYERS.filter(function (l) { return z >= l.min_zoom; });
      var key = band + "|" + layers.map(function (l) { return l.name; }).join(",");
      if (this._held && this._held.key === key && (band === 0 || this._held.bounds.contains(want))) {
        this._relabel();
        this._ready();
        return;
      }
      var seq = ++this._seq, self = this, base = this.options.url || "/basemap/";
      var bbox = [w, s, e, n].map(function (v) { return v.toFixed(4); }).join(",");
      Promise.all(layers.map(function (l) {
        var url = base + encodeURIComponent(l.name) + ".json?z=" + z + (band === 0 ? "" : "&bbox=" + bbox);
        return fetch(url, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.json() : null; })
          .catch(function () { return null; });
      })).then(function (answers) {
        if (seq !== self._seq || !self._map) return;  // a newer view asked meanwhile, or the layer was removed
        self._places = [];
        var drawn = [], cover = null;
        answers.forEach(function (fc, i) {
          if (!fc) return;
          var v = self._vector(layers[i].name, fc);
          v.snName = layers[i].name;
          drawn.push(v);
          if (fc.bbox && fc.bbox.length === 4) {
            var b = L.latLngBounds([fc.bbox[1], fc.bbox[0]], [fc.bbox[3], fc.bbox[2]]);
            cover = cover ? cover : b;
          }
        });
        self._replace("live", drawn);
        self._held = cover && answers.every(Boolean) ? { key: key, bounds: cover } : null;
        self._relabel();
        self._ready();
      });
    },

    // --- labels ---------------------------------------------------------------------------------------------------
    _relabel: function () {
      var map = this._map;
      if (!map || !this._labels) return;
      this._labels.clearLayers();
      var rank = labelRank(map.getZoom()), view = map.getBounds().pad(0.2), seen = {};
      var chosen = this._places.filter(function (p) {
        var id = p.name + "@" + p.latlng.lat.toFixed(2) + "," + p.latlng.lng.toFixed(2);
        if (p.rank > rank || seen[id] || !view.contains(p.latlng)) return false;
        seen[id] = true;
        return true;
      }).sort(function (a, b) { return a.rank - b.rank; });
      var labels = this._labels;
      chosen.forEach(function (p) {
        var text = document.createElement("span");
        text.textContent = p.name;
        text.setAttribute("data-rank", String(p.rank));
        var anchor = L.circleMarker(p.latlng, { radius: 0, stroke: false, fill: false, interactive: false,
                                                 pane: "sn-base-labels" });
        anchor.bindTooltip(text, { permanent: true, direction: "right", offset: [4, 0], className: "sn-place-label",
                                   pane: "sn-base-labels", interactive: false });
        anchor.snRank = p.rank;
        labels.addLayer(anchor);
      });
      thin(labels);
    },

    _ready: function () {
      if (!this._map) return;
      document.body.setAttribute("data-basemap-zoom", String(this._map.getZoom()));
    },

    // Features of each layer whose extent meets the view (for tests and the status line).
    stats: function () {
      var out = {}, map = this._map;
      if (!map) return out;
      var view = map.getBounds();
      Object.keys(this._groups).forEach(function (key) {
        (this._groups[key].snFeatures || []).forEach(function (layer) {
          var n = 0;
          layer.eachLayer(function (f) {
            var b = f.getBounds ? f.getBounds() : L.latLngBounds(f.getLatLng(), f.getLatLng());
            if (b.isValid() && view.intersects(b)) n += 1;
          });
          out[layer.snName] = (out[layer.snName] || 0) + n;
        });
      }, this);
      out.labels = this._labels ? this._labels.getLayers().length : 0;
      return out;
    }
  });

  function collectPlaces(self, bundle) {
    var fc = bundle.layers && bundle.layers.places;
    (fc && fc.features || []).forEach(function (f) {
      var c = f.geometry && f.geometry.coordinates, p = f.properties || {};
      if (c && typeof p.name === "string") {
        self._places.push({ latlng: L.latLng(c[1], c[0]), name: p.name, rank: Number(p.scalerank) || 0 });
      }
    });
  }

  // Hide labels that overlap a label of a larger place (they were added largest first).
  function thin(labels) {
    var kept = [];
    labels.eachLayer(function (anchor) {
      var tip = anchor.getTooltip(), node = tip && tip.getElement();
      if (!node) return;
      var r = node.getBoundingClientRect();
      var hit = kept.some(function (k) { return r.left < k.right && k.left < r.right && r.top < k.bottom && k.top < r.bottom; });
      node.style.visibility = hit ? "hidden" : "";
      if (!hit) kept.push(r);
    });
  }

  var current = null;

  // The base layers for map.js's layer control; the Natural Earth one is put on the map.
  function install(map, cfg) {
    var data = readJSON("sn-basemap-data");
    current = new NaturalEarth({ url: cfg.basemapUrl || "/basemap/", bundles: data && data.bundles });
    var bases = { "Natural Earth (offline)": current };
    if (cfg.online) {
      bases["OpenStreetMap"] = L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        { maxZoom: 19, attribution: "© OpenStreetMap contributors" });
      bases["Satellite (Esri)"] = L.tileLayer(
        "https://server.arcgisonline.com/ArcGIS/rest/services/World_Imagery/MapServer/tile/{z}/{y}/{x}",
        { maxZoom: 19, attribution: "Esri World Imagery" });
    }
    current.addTo(map);
    return bases;
  }

  window.SentinelleBasemap = {
    install: install,
    stats: function () { return current ? current.stats() : {}; },
    labelRank: labelRank
  };
})();
