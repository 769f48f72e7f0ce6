/* Sentinelle two-date comparison: a before/after swipe, an opacity slider for the change score, and a legend
   that says what the score and the masked (transparent) pixels mean.

   Layers tagged role "before" / "after" / "score" (MapLayer.role) are drawn by map.js in panes made here: the
   after pane is clipped (CSS clip-path) to the right of a divider the user drags, so the before image shows on
   its left. Both dates stay on the map; nothing else is clipped. Every label is a text node.                  */
(function () {
  "use strict";
  var PANES = { before: 210, after: 220, score: 230 };
  var COLOR = /^(#[0-9a-fA-F]{3,8}|[a-zA-Z]{1,24}|rgba?\([0-9.,\s%]{1,40}\))$/;
  var state = { map: null, box: null, panel: null, x: 0.5, before: null, after: null, score: null };

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = String(text);
    return node;
  }

  // The pane a compare layer is drawn in (made on first use); undefined for other layers.
  function paneFor(map, spec) {
    var role = spec && spec.role;
    if (!Object.prototype.hasOwnProperty.call(PANES, role)) return undefined;
    var name = "sn-" + role;
    if (!map.getPane(name)) map.createPane(name).style.zIndex = String(PANES[role]);
    return name;
  }

  function onMap(entry) { return entry && state.map.hasLayer(entry.layer); }

  // Clip the after pane to the right of the divider, in the pane's own (layer point) coordinates.
  function clip() {
    var map = state.map, pane = map && map.getPane("sn-after");
    if (!pane) return;
    if (!state.box || !onMap(state.before) || !onMap(state.after)) { pane.style.clipPath = ""; return; }
    var size = map.getSize(), x = Math.round(size.x * state.x);
    var nw = map.containerPointToLayerPoint([0, 0]), se = map.containerPointToLayerPoint(size);
    var cut = map.containerPointToLayerPoint([x, 0]).x;
    pane.style.clipPath = "polygon(" + [[cut, nw.y], [se.x, nw.y], [se.x, se.y], [cut, se.y]].map(function (p) {
      return p[0] + "px " + p[1] + "px";
    }).join(", ") + ")";
    state.box.style.left = x + "px";
    state.handle.setAttribute("aria-valuenow", String(Math.round(state.x * 100)));
    document.body.setAttribute("data-swipe", String(Math.round(state.x * 100)));
  }

  function setX(fraction) {
    state.x = Math.min(1, Math.max(0, fraction));
    clip();
  }

  function makeSwipe(map) {
    var box = el("div", "sn-swipe"), handle = el("div", "sn-swipe-handle");
    handle.setAttribute("role", "slider");
    handle.setAttribute("tabindex", "0");
    handle.setAttribute("aria-label", "before / after divider");
    handle.setAttribute("aria-valuemin", "0");
    handle.setAttribute("aria-valuemax", "100");
    var left = el("div", "sn-swipe-label sn-swipe-before"), right = el("div", "sn-swipe-label sn-swipe-after");
    box.appendChild(left);
    box.appendChild(right);
    box.appendChild(handle);
    map.getContainer().appendChild(box);
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.disableScrollPropagation(box);
    var dragging = false;
    function move(ev) {
      if (!dragging) return;
      var rect = map.getContainer().getBoundingClientRect();
      setX((ev.clientX - rect.left) / rect.width);
      ev.preventDefault();
    }
    handle.addEventListener("pointerdown", function (ev) {
      dragging = true;
      map.dragging.disable();
      if (handle.setPointerCapture) handle.setPointerCapture(ev.pointerId);
      ev.preventDefault();
      ev.stopPropagation();
    });
    handle.addEventListener("pointermove", move);
    function stop() { if (dragging) { dragging = false; map.dragging.enable(); } }
    handle.addEventListener("pointerup", stop);
    handle.addEventListener("pointercancel", stop);
    handle.addEventListener("keydown", function (ev) {
      var step = ev.shiftKey ? 0.1 : 0.02;
      if (ev.key === "ArrowLeft") setX(state.x - step);
      else if (ev.key === "ArrowRight") setX(state.x + step);
      else return;
      ev.preventDefault();
    });
    state.box = box;
    state.handle = handle;
    state.labels = { before: left, after: right };
    map.on("move zoom viewreset resize zoomend moveend layeradd layerremove", clip);
  }

  function gradient(legend) {
    var colors = Object.keys(legend || {}).map(function (k) { return legend[k]; })
      .filter(function (c) { return typeof c === "string" && COLOR.test(c) && c !== "transparent"; });
    return colors.length > 1 ? "linear-gradient(to right, " + colors.join(", ") + ")" : "";
  }

  function makePanel(map) {
    var control = L.control({ position: "topleft" });
    control.onAdd = function () {
      var box = L.DomUtil.create("div", "sn-compare");
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      return box;
    };
    control.addTo(map);
    state.panel = control.getContainer();
  }

  function fillPanel(spec) {
    var box = state.panel;
    while (box.firstChild) box.removeChild(box.firstChild);
    if (!state.score) { box.style.display = "none"; return; }
    box.style.display = "block";
    box.appendChild(el("div", "sn-compare-title", spec.name));
    var row = el("label", "sn-compare-opacity");
    row.appendChild(document.createTextNode("opacity "));
    var slider = el("input");
    slider.type = "range";
    slider.min = "0";
    slider.max = "100";
    var layer = state.score.layer;
    slider.value = String(Math.round(100 * (layer.options.opacity == null ? 1 : layer.options.opacity)));
    slider.setAttribute("aria-label", "change score opacity");
    slider.addEventListener("input", function () {
      if (layer.setOpacity) layer.setOpacity(Number(slider.value) / 100);
      document.body.setAttribute("data-score-opacity", slider.value);
    });
    row.appendChild(slider);
    box.appendChild(row);
    var ramp = gradient(spec.legend);
    if (ramp) {
      var bar = el("div", "sn-compare-ramp");
      bar.style.background = ramp;
      box.appendChild(bar);
    }
    Object.keys(spec.legend || {}).forEach(function (label) {
      box.appendChild(el("div", "sn-compare-note", label));
    });
  }

  // Called by map.js after every redraw with the layer specs and what it drew (name -> {layer}).
  function update(map, specs, drawn) {
    state.map = map;
    var found = { before: null, after: null, score: null }, scoreSpec = null;
    specs.forEach(function (spec) {
      if (!Object.prototype.hasOwnProperty.call(found, spec.role) || !drawn[spec.name]) return;
      found[spec.role] = { layer: drawn[spec.name].layer, spec: spec };
      if (spec.role === "score") scoreSpec = spec;
    });
    state.before = found.before;
    state.after = found.after;
    state.score = found.score;
    if (found.before && found.after) {
      if (!state.box) makeSwipe(map);
      state.box.style.display = "";
      state.labels.before.textContent = "◀ " + found.before.spec.name;
      state.labels.after.textContent = found.after.spec.name + " ▶";
    } else if (state.box) {
      state.box.style.display = "none";
    }
    if (found.score && !state.panel) makePanel(map);
    if (state.panel) fillPanel(scoreSpec || {});
    clip();
  }

  window.SentinelleCompare = { paneFor: paneFor, update: update, setSwipe: setX };
})();
