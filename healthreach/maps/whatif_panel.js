/* healthreach: the coverage map's what-if panel, markers and automation API (window.healthreach).
 *
 * A planner picks a kind, clicks the map to place a proposed facility, drags it, places several,
 * removes them; the panel shows the population newly within each band, mean and 95th percentile before
 * and after, and the villages that gain, coloured by minutes saved; a button downloads the placed
 * sites as a scenario file for `healthreach compare`. All user text (village and facility names)
 * reaches the page through textContent or input values only.
 */
function healthreachWhatIf(map, data, roadsGroup) {
  'use strict';
  var started = performance.now(), engine = healthreachWhatIfEngine(data), INF = Infinity;
  var TXT = engine.text, TIERS = engine.tiers, KINDS = engine.kinds, BANDS = engine.bands, V = engine.villages;
  var pops = engine.populations, display = engine.display, fromDisplay = engine.fromDisplay, shownTier = null;
  map.createPane('hr-roads').style.zIndex = 390;
  map.getPane('hr-roads').style.pointerEvents = 'none';
  map.createPane('hr-wi-gain').style.zIndex = 450;
  if (roadsGroup) { healthreachRoadTiles(engine, roadsGroup, 'hr-roads'); }

  var css = document.createElement('style');
  css.textContent = [
    '.hr-whatif{top:56px;right:10px;width:330px;max-height:calc(100vh - 120px);overflow:auto}',
    '.hr-whatif summary{font-weight:bold;cursor:pointer}',
    '.hr-whatif button{font-size:12px;margin:2px 2px 2px 0;cursor:pointer}',
    '.hr-whatif select,.hr-whatif input{font-size:12px;max-width:100%}',
    '.hr-whatif ol{margin:4px 0;padding-left:20px}.hr-whatif li{margin:2px 0}',
    '.hr-whatif li input{width:150px}.hr-whatif small{color:#555}',
    '.hr-whatif table{border-collapse:collapse;font-size:12px;margin:4px 0;width:100%}',
    '.hr-whatif td,.hr-whatif th{padding:1px 4px;text-align:right;border-bottom:1px solid #ddd}',
    '.hr-whatif td:first-child,.hr-whatif th:first-child{text-align:left}',
    '.hr-wi-gainers li{cursor:pointer}.hr-wi-gainers li:hover{background:#e6f0fa}',
    '.hr-wi-swatch{display:inline-block;width:11px;height:11px;border-radius:50%;margin:0 3px 0 6px;',
    'border:1px solid #333;vertical-align:-1px}',
    '.hr-wi-site{border-radius:50%;border:2px solid #fff;box-shadow:0 0 0 2px #000;color:#fff;',
    'font:bold 11px/14px sans-serif;text-align:center}',
    '.hr-wi-placing,.hr-wi-placing .leaflet-interactive{cursor:crosshair !important}',
    '.hr-wi-placing .leaflet-interactive,.hr-wi-placing .leaflet-pane canvas{pointer-events:none !important}',
    '.hr-wi-hint{color:#b35806}'
  ].join('\n');
  document.head.appendChild(css);

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }
  function persons(x) {  // 12,345 (without Intl, whose first use costs a tenth of a second)
    var digits = String(Math.abs(Math.round(x))), out = '';
    for (var i = digits.length; i > 0; i -= 3) { out = digits.slice(Math.max(0, i - 3), i) + (out ? ',' + out : ''); }
    return (x < 0 && Math.round(x) !== 0 ? '-' : '') + out;
  }
  function minutes(x) { return x === null || x === undefined || isNaN(x) ? '—' : x.toFixed(1); }

  var panel = el('details', {'class': 'hr-box hr-whatif'});
  panel.appendChild(el('summary', {}, TXT.title));
  var kindRow = el('div'), kindSelect = el('select', {'class': 'hr-wi-kind'});
  Object.keys(KINDS).forEach(function (k) {
    var option = el('option', {value: k}, KINDS[k].name + ' · ' + TIERS[KINDS[k].tier].name);
    if (k === data.default_kind) { option.selected = true; }
    kindSelect.appendChild(option);
  });
  kindRow.appendChild(el('span', {}, TXT.kind + ' '));
  kindRow.appendChild(kindSelect);
  var placeButton = el('button', {'class': 'hr-wi-place', type: 'button'}, TXT.place);
  var hint = el('div', {'class': 'hr-wi-hint'});
  var siteList = el('ol', {'class': 'hr-wi-sites'});
  var resultBox = el('div', {'class': 'hr-wi-result'});
  var actions = el('div');
  var downloadButton = el('button', {'class': 'hr-wi-download', type: 'button'}, TXT.download);
  var clearButton = el('button', {'class': 'hr-wi-clear', type: 'button'}, TXT.clear);
  actions.appendChild(downloadButton); actions.appendChild(clearButton);
  var note = el('p');
  note.appendChild(el('small', {}, TXT.note));
  [kindRow, placeButton, hint, siteList, resultBox, actions, note].forEach(function (node) { panel.appendChild(node); });
  document.body.appendChild(panel);
  L.DomEvent.disableClickPropagation(panel);
  L.DomEvent.disableScrollPropagation(panel);

  var gainLayer = L.layerGroup().addTo(map), markers = {}, gainRenderer = L.canvas({pane: 'hr-wi-gain'});
  function gainColour(saved) {
    for (var i = 0; i < data.saved_classes.length; i++) {
      if (saved < data.saved_classes[i][0]) { return data.saved_classes[i][1]; }
    }
    return data.saved_classes[data.saved_classes.length - 1][1];
  }

  function renderSites() {
    siteList.textContent = '';
    engine.sites().forEach(function (site, index) {
      var info = engine.siteInfo(site), li = el('li', {'class': 'hr-wi-site-row', 'data-fid': site.fid});
      var name = el('input', {type: 'text', maxlength: '80', 'class': 'hr-wi-name'});
      name.value = site.name;
      name.addEventListener('input', function () {
        engine.rename(site, name.value);
        markers[site.fid].setTooltipContent(el('span', {}, site.name));
      });
      li.appendChild(name);
      var remove = el('button', {type: 'button', 'class': 'hr-wi-remove', title: TXT.remove}, '×');
      remove.addEventListener('click', function () { removeSite(site.fid); });
      li.appendChild(remove);
      var status = [KINDS[site.kind].name];
      Object.keys(info.joins).forEach(function (mode) {
        var j = info.joins[mode];
        var snap = Math.round(engine.network.maxSnapM), island = !j.joined ? ''
          : j.island_m !== null ? TXT.island_skipped.replace('{m}', Math.round(j.island_m))
          : j.on_island ? TXT.island_stay.replace('{m}', snap) : '';
        status.push(!info.inside ? TXT.outside : j.joined
          ? TXT.access.replace('{m}', Math.round(j.access_m)) + island + ' (' + TXT.modes[mode] + ')'
          : TXT.not_joined.replace('{m}', snap) + ' (' + TXT.modes[mode] + ')');
      });
      li.appendChild(el('br'));
      li.appendChild(el('small', {}, (index + 1) + '. ' + status.join('; ')));
      siteList.appendChild(li);
    });
  }

  function renderResult(all) {
    resultBox.textContent = '';
    gainLayer.clearLayers();
    var tiers = Object.keys(all.tiers);
    downloadButton.disabled = !engine.sites().length;
    if (!tiers.length) { return; }
    if (tiers.indexOf(shownTier) < 0) { shownTier = tiers[tiers.length - 1]; }
    var select = el('select', {'class': 'hr-wi-tier'});
    tiers.forEach(function (t) {
      var option = el('option', {value: t}, TIERS[t].name);
      if (t === shownTier) { option.selected = true; }
      select.appendChild(option);
    });
    select.addEventListener('change', function () { shownTier = select.value; renderResult(all); });
    var row = el('div');
    row.appendChild(el('span', {}, TXT.tier_shown + ' '));
    row.appendChild(select);
    resultBox.appendChild(row);
    var r = all.tiers[shownTier], table = el('table', {'class': 'hr-wi-table'}), head = el('tr');
    [TXT.band, TXT.before, TXT.after, TXT.gain].forEach(function (h) { head.appendChild(el('th', {}, h)); });
    table.appendChild(head);
    BANDS.forEach(function (band) {
      var tr = el('tr', {'data-band': String(band)});
      tr.appendChild(el('td', {}, '≤ ' + band + ' ' + TXT.minutes));
      tr.appendChild(el('td', {}, persons(r.pop_before[band])));
      tr.appendChild(el('td', {}, persons(r.pop_after[band])));
      tr.appendChild(el('td', {'class': 'hr-wi-gain'}, (r.gain[band] > 0 ? '+' : '') + persons(r.gain[band])));
      table.appendChild(tr);
    });
    [[TXT.mean, r.mean_min_before, r.mean_min_after], [TXT.p95, r.p95_min_before, r.p95_min_after]]
      .forEach(function (line) {
        var tr = el('tr');
        tr.appendChild(el('td', {}, line[0]));
        tr.appendChild(el('td', {}, minutes(line[1])));
        tr.appendChild(el('td', {}, minutes(line[2])));
        tr.appendChild(el('td', {}, line[1] !== null && line[2] !== null ? minutes(line[2] - line[1]) : '—'));
        table.appendChild(tr);
      });
    resultBox.appendChild(table);
    var gainers = [];
    r.villages.forEach(function (v, i) {
      var newly = v.before_s === null && v.after_s !== null;
      if (newly || (v.before_s !== null && v.after_s !== null && v.after_s < v.before_s)) {
        gainers.push({i: i, newly: newly, saved: newly ? INF : (v.before_s - v.after_s) / 60, v: v});
      }
    });
    gainers.sort(function (a, b) { return b.saved - a.saved || pops[b.i] - pops[a.i]; });
    var gainPop = 0;
    gainers.forEach(function (g) { gainPop += pops[g.i]; });
    resultBox.appendChild(el('div', {'class': 'hr-wi-gaining'}, TXT.gaining.replace('{n}', gainers.length)
      .replace('{p}', persons(gainPop))));
    var list = el('ol', {'class': 'hr-wi-gainers'});
    gainers.slice(0, 12).forEach(function (g) {
      var item = el('li', {'data-vid': g.v.vid});
      item.appendChild(el('span', {'class': 'hr-wi-vname'}, V.name[g.i]));
      item.appendChild(el('small', {}, ' ' + (g.newly ? TXT.newly : TXT.saved.replace('{x}', g.saved.toFixed(1)))));
      item.addEventListener('click', function () {
        map.setView(V.latlon[g.i], Math.max(map.getZoom(), 13));
      });
      list.appendChild(item);
    });
    resultBox.appendChild(list);
    var legend = el('div', {'class': 'hr-wi-legend'});
    legend.appendChild(el('span', {}, TXT.saved_legend));
    data.saved_classes.concat([[null, data.newly_colour, TXT.newly]]).forEach(function (c) {
      var sw = el('i', {'class': 'hr-wi-swatch'});
      sw.style.background = c[1];
      legend.appendChild(sw);
      legend.appendChild(el('span', {}, c[2]));
    });
    resultBox.appendChild(legend);
    gainers.forEach(function (g) {
      var colour = g.newly ? data.newly_colour : gainColour(g.saved);
      var marker = L.circleMarker(V.latlon[g.i], {renderer: gainRenderer, radius: 7, color: '#222', weight: 1.2,
                                                  fillColor: colour, fillOpacity: 0.95});
      marker.hrGain = {vid: g.v.vid, saved_min: g.newly ? null : g.saved, colour: colour};
      marker.bindTooltip(el('span', {}, V.name[g.i] + ' · ' + (g.newly ? TXT.newly
        : TXT.saved.replace('{x}', g.saved.toFixed(1))) + ' (' + minutes(g.v.before_s === null ? null : g.v.before_s / 60)
        + ' → ' + minutes(g.v.after_s / 60) + ' ' + TXT.minutes + ')'), {sticky: true});
      gainLayer.addLayer(marker);
    });
  }

  function refresh() {
    var all = engine.result();
    renderSites();
    renderResult(all);
    return all;
  }

  function addSite(lon, lat, kind, name) {
    var site = engine.place(lon, lat, kind, name), fid = site.fid;
    var icon = L.divIcon({className: 'hr-wi-site hr-wi-site-' + fid, html: String(engine.sites().length),
                          iconSize: [18, 18]});
    var marker = L.marker(display(site.lon, site.lat), {draggable: true, icon: icon, keyboard: false,
                                                       zIndexOffset: 1000}).addTo(map);
    marker.getElement().style.background = TIERS[KINDS[kind].tier].colour;
    marker.bindTooltip(el('span', {}, site.name));
    marker.on('dragend', function () {
      var ll = fromDisplay(marker.getLatLng());
      engine.move(site, ll[0], ll[1]);
      refresh();
    });
    markers[fid] = marker;
    shownTier = KINDS[kind].tier;
    return site;
  }
  function removeSite(fid) {
    engine.remove(fid);
    if (markers[fid]) { map.removeLayer(markers[fid]); delete markers[fid]; }
    engine.sites().forEach(function (s, i) { markers[s.fid].getElement().textContent = String(i + 1); });
    return refresh();
  }
  function clear() {
    engine.sites().forEach(function (s) { map.removeLayer(markers[s.fid]); delete markers[s.fid]; });
    engine.clear();
    return refresh();
  }

  // Placing: one click on the map places a site of the chosen kind; markers let the click through.
  function stopPlacing() {
    map.getContainer().classList.remove('hr-wi-placing');
    map.off('click', onPlace);
    hint.textContent = '';
    placeButton.disabled = false;
  }
  function onPlace(e) {
    stopPlacing();
    var ll = fromDisplay(e.latlng);
    addSite(ll[0], ll[1], kindSelect.value);
    refresh();
  }
  placeButton.addEventListener('click', function () {
    map.getContainer().classList.add('hr-wi-placing');
    map.on('click', onPlace);
    hint.textContent = TXT.placing;
    placeButton.disabled = true;
  });
  document.addEventListener('keydown', function (e) { if (e.key === 'Escape') { stopPlacing(); } });
  clearButton.addEventListener('click', function () { clear(); });
  downloadButton.addEventListener('click', function () {
    var blob = new Blob([engine.scenarioYaml()], {type: 'text/yaml;charset=utf-8'});
    var a = el('a', {download: 'whatif.yml'});
    a.href = URL.createObjectURL(blob);
    document.body.appendChild(a);
    a.click();
    setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  });
  map.addLayer(gainRenderer);
  refresh();

  // ------------------------------------------------------------------ automation
  function answer(extra) {
    var all = refresh(), out = {tiers: all.tiers, sites: all.sites};
    var t = extra && extra.tier;
    if (t && all.tiers[t]) { Object.keys(all.tiers[t]).forEach(function (k) { out[k] = all.tiers[t][k]; }); }
    Object.keys(extra || {}).forEach(function (k) { out[k] = extra[k]; });
    return out;
  }
  var api = window.healthreach = window.healthreach || {};
  /* Place a site ({lon, lat} in WGS84 degrees, kind, optional name) and resolve to the comparison of
     its tier with every site placed so far: {tier, villages: [{vid, before_s, after_s}], gain:
     {band_min: persons}, pop_before, pop_after, mean/p95 before and after, tiers, sites, fid, ms}. */
  api.tryFacility = function (spec) {
    try {
      if (!spec || typeof spec !== 'object') { throw new Error('expected {lon, lat, kind[, name]}'); }
      var t0 = performance.now(), site = addSite(Number(spec.lon), Number(spec.lat), spec.kind, spec.name);
      var out = answer({tier: KINDS[site.kind].tier, fid: site.fid});
      out.ms = performance.now() - t0;
      return Promise.resolve(out);
    } catch (err) { return Promise.reject(err); }
  };
  api.moveFacility = function (fid, spec) {
    var site = engine.findSite(fid);
    if (!site) { return Promise.reject(new Error('no placed site ' + fid)); }
    if (!spec || !isFinite(spec.lon) || !isFinite(spec.lat)) { return Promise.reject(new Error('expected {lon, lat}')); }
    engine.move(site, Number(spec.lon), Number(spec.lat));
    markers[fid].setLatLng(display(site.lon, site.lat));
    return Promise.resolve(answer({tier: KINDS[site.kind].tier, fid: fid}));
  };
  api.removeFacility = function (fid) { removeSite(fid); return Promise.resolve(answer({})); };
  api.whatIf = function () { return answer({tier: shownTier}); };
  /* The villages drawn as gaining in the tier shown: vid, minutes saved (null: newly reachable), colour. */
  api.gainers = function () { return gainLayer.getLayers().map(function (m) { return m.hrGain; }); };
  api.scenarioYaml = engine.scenarioYaml;
  api.clear = function () { clear(); return Promise.resolve(answer({})); };
  api.whatIfInitMs = performance.now() - started;
}
