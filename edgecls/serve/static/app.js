// The edgecls page: pick, drop or photograph an image, send it to /api/classify, draw the answer as bars.
// Plain JavaScript, no build step and nothing from a CDN: the device serving this may be offline.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { model: null, maxUpload: null, file: null, previewUrl: null, busy: 0 };

const percent = (score) => `${(100 * score).toFixed(1)}%`;
const megabytes = (bytes) => `${(bytes / 1048576).toFixed(bytes < 1048576 ? 2 : 0)} MB`;

async function getJSON(url, options) {
  const response = await fetch(url, options);
  let body = null;
  try {
    body = await response.json();
  } catch (_) {
    // not JSON: a proxy's error page, say
  }
  if (!response.ok) throw new Error((body && body.error) || `${response.status} ${response.statusText}`);
  return body;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function showModel(model, health) {
  state.model = model;
  state.maxUpload = health.max_upload;
  const input = model.input;
  $("model-name").textContent = model.name;
  $("model-format").textContent = `${model.format} · ${megabytes(model.bytes)}`;
  $("model-input").textContent = `${input.width} × ${input.height} ${input.colour.toUpperCase()}, ${input.fit}`;
  const acc = model.accuracy || {};
  $("model-accuracy").textContent = acc.top1 != null
    ? `${percent(acc.top1)}${acc.count ? ` on ${acc.count.toLocaleString("en")} test images` : ""}` : "not recorded";
  $("model-classes-count").textContent = String(model.labels.length);
  const list = $("model-classes");
  list.replaceChildren(...model.labels.map((label) => {
    const item = document.createElement("li");
    item.textContent = label;
    return item;
  }));
  const select = $("top-k");
  const choices = [1, 3, 5, 10, 20].filter((k) => k < model.labels.length).concat(model.labels.length);
  select.replaceChildren(...choices.map((k) => new Option(k === model.labels.length ? `all ${k}` : String(k), k)));
  select.value = String(Math.min(5, model.labels.length));
  $("limit").textContent = `JPEG, PNG, WebP, GIF or BMP, up to ${megabytes(state.maxUpload)}`;
}

function showResult(result, roundTripMs) {
  const [best] = result.top;
  $("top-label").textContent = best.label;
  $("top-score").textContent = percent(best.score);
  $("bars").replaceChildren(...result.top.map((c) => {
    const item = document.createElement("li");
    const label = document.createElement("span");
    label.className = "label";
    label.textContent = c.label;
    const track = document.createElement("span");
    track.className = "track";
    const fill = document.createElement("span");
    fill.className = "fill";
    fill.style.width = `${Math.max(0, Math.min(100, 100 * c.score))}%`;
    track.append(fill);
    const value = document.createElement("span");
    value.className = "value";
    value.textContent = percent(c.score);
    item.append(label, track, value);
    return item;
  }));
  $("timing").textContent = `Inference ${result.ms.toFixed(1)} ms · round trip ${Math.round(roundTripMs)} ms`;
  $("result").hidden = false;
  $("status").hidden = true;
}

async function classify(file) {
  state.file = file;
  showError("");
  if (state.previewUrl) URL.revokeObjectURL(state.previewUrl);
  state.previewUrl = URL.createObjectURL(file);
  $("preview").src = state.previewUrl;
  $("preview").hidden = false;
  $("drop").classList.add("has-image");
  if (state.maxUpload && file.size > state.maxUpload) {
    showError(`${file.name} is ${megabytes(file.size)}; this server takes up to ${megabytes(state.maxUpload)}.`);
    return;
  }
  const form = new FormData();
  form.append("image", file, file.name || "photo");
  form.append("top_k", $("top-k").value || "5");
  const ticket = ++state.busy;
  $("status").textContent = "Classifying…";
  $("status").hidden = !$("result").hidden;
  document.body.classList.add("busy");
  const start = performance.now();
  try {
    const result = await getJSON("/api/classify", { method: "POST", body: form });
    if (ticket === state.busy) showResult(result, performance.now() - start);
  } catch (error) {
    if (ticket === state.busy) {
      $("result").hidden = true;
      $("status").hidden = true;
      showError(error.message);
    }
  } finally {
    if (ticket === state.busy) document.body.classList.remove("busy");
  }
}

function firstImage(files) {
  return Array.from(files || []).find((f) => f.type.startsWith("image/") || !f.type) || null;
}

function setUp() {
  for (const id of ["file", "camera"]) {
    $(id).addEventListener("change", (event) => {
      const file = event.target.files[0];
      if (file) classify(file);
      event.target.value = "";  // choosing the same file again still fires "change"
    });
  }
  $("top-k").addEventListener("change", () => state.file && classify(state.file));
  $("preview").addEventListener("error", () => {
    // The browser cannot show it (not an image, or a format it does not draw, like some TIFFs): the server's
    // answer still says which.
    $("preview").hidden = true;
    $("drop").classList.remove("has-image");
  });

  const drop = $("drop");
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => {
      event.preventDefault();
      drop.classList.add("dragging");
    });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, () => drop.classList.remove("dragging"));
  }
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    const file = firstImage(event.dataTransfer.files);
    if (file) classify(file);
    else showError("That was not an image file.");
  });
  // A file dropped beside the drop zone would otherwise replace the page with the image.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());
  document.addEventListener("paste", (event) => {
    const file = firstImage(event.clipboardData && event.clipboardData.files);
    if (file) classify(file);
  });

  Promise.all([getJSON("/api/model"), getJSON("/healthz")])
    .then(([model, health]) => showModel(model, health))
    .catch((error) => showError(`Cannot reach the model: ${error.message}`));
}

setUp();
