// pose3d viewer: the clip's video and its 3D skeletons (three.js, world metres, Y up), in sync.
// Reads the JSON in #pose-data (written by demo/viewer/page.py; packing in demo/viewer/data.py)
// and exposes window.viewer (seek, play, pause, state, ...) for scripts and tests.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const data = JSON.parse($("pose-data").textContent);
  const fps = data.fps, numFrames = Math.max(1, data.numFrames), stride = data.stride;
  const NJ = data.skeleton.joints.length, HEAD = data.skeleton.joints.indexOf("head");
  const JOINT_RADIUS = 0.035, BONE_RADIUS = 0.022, PICK_PIXELS = 14;  // metres, metres, CSS pixels
  // (the picked joint is drawn 1.8 times bigger)

  const api = { isReady: false, error: null };
  window.viewer = api;

  // ---- decoding (the inverse of data.pack_person) --------------------------------------
  async function inflate(b64) {
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }

  async function decodePerson(p) {
    const raw = await inflate(p.deltas);
    const deltas = p.bits === 16 ? new Int16Array(raw.buffer) : new Int32Array(raw.buffer);
    const n = p.count * NJ * 3, pos = new Float32Array(n), acc = new Float64Array(NJ * 3);
    for (let i = 0; i < n; i++) {
      const c = i % (NJ * 3);
      acc[c] += deltas[i];
      pos[i] = acc[c] / 1000;
    }
    return { ...p, pos, states: await inflate(p.state) };
  }

  // ---- scene ------------------------------------------------------------------------------
  const canvas = $("scene");
  const renderer = new THREE.WebGLRenderer({ canvas, antialias: true, preserveDrawingBuffer: true });
  renderer.setPixelRatio(window.devicePixelRatio || 1);
  const scene = new THREE.Scene();
  scene.background = new THREE.Color("#1e1e1e");
  scene.add(new THREE.AmbientLight(0xffffff, 1.6));
  const sun = new THREE.DirectionalLight(0xffffff, 2.0);
  sun.position.set(2, 5, 3);
  scene.add(sun);
  const camera = new THREE.PerspectiveCamera(50, 1, 0.05, 500);
  const controls = new THREE.OrbitControls(camera, canvas);

  const grid = new THREE.GridHelper(data.grid.size, data.grid.size, 0x6a6a6a, 0x444444);
  grid.position.set(data.grid.x, 0, data.grid.z);
  scene.add(grid);

  let frustum = null;
  if (data.camera) {
    const c = data.camera.centre, k = data.camera.corners, pts = [];
    for (let i = 0; i < 4; i++) pts.push(...c, ...k[i], ...k[i], ...k[(i + 1) % 4]);
    const up = data.camera.up, top = [0, 1].map((i) => k[i]);  // a tick on the top edge marks "up"
    const mid = [0, 1, 2].map((a) => (top[0][a] + top[1][a]) / 2);
    const tip = [0, 1, 2].map((a) => mid[a] + up[a] * data.camera.depth * 0.15);
    pts.push(...top[0], ...tip, ...tip, ...top[1]);
    const g = new THREE.BufferGeometry();
    g.setAttribute("position", new THREE.Float32BufferAttribute(pts, 3));
    frustum = new THREE.LineSegments(g, new THREE.LineBasicMaterial({ color: 0xcccccc }));
    scene.add(frustum);
  }

  const jointGeometry = new THREE.SphereGeometry(1, 12, 8);
  const boneGeometry = new THREE.CylinderGeometry(1, 1, 1, 8);  // along y, centred

  const people = [];  // filled by boot()
  let frame = 0, playing = false, speed = 1, following = null, picked = null, showTrails = true;

  function makePerson(p) {
    const group = new THREE.Group();
    group.userData.trackId = p.id;
    const mat = () => new THREE.MeshLambertMaterial({ color: 0xffffff, transparent: true, opacity: 1 });
    const joints = new THREE.InstancedMesh(jointGeometry, mat(), NJ);
    const bones = new THREE.InstancedMesh(boneGeometry, mat(), data.skeleton.bones.length);
    joints.instanceMatrix.setUsage(THREE.DynamicDrawUsage);
    bones.instanceMatrix.setUsage(THREE.DynamicDrawUsage);
    const colour = (side) => new THREE.Color(p.sides[side] || p.colour);
    data.skeleton.jointSides.forEach((s, j) => joints.setColorAt(j, colour(s)));
    data.skeleton.boneSides.forEach((s, b) => bones.setColorAt(b, colour(s)));
    joints.frustumCulled = bones.frustumCulled = false;  // instances move far from the geometry's bounds
    group.add(joints, bones);
    // The trail: the pelvis path on the floor, drawn up to the current frame.
    const path = new Float32Array(p.count * 3);
    for (let i = 0; i < p.count; i++) {
      path[3 * i] = p.pos[i * NJ * 3];
      path[3 * i + 1] = 0.005;
      path[3 * i + 2] = p.pos[i * NJ * 3 + 2];
    }
    const tg = new THREE.BufferGeometry();
    tg.setAttribute("position", new THREE.Float32BufferAttribute(path, 3));
    const trail = new THREE.Line(tg, new THREE.LineBasicMaterial({ color: p.colour }));
    trail.frustumCulled = false;
    scene.add(group, trail);
    const label = document.createElement("div");
    label.className = "label";
    label.style.background = p.colour;
    label.style.color = p.text;
    $("labels").appendChild(label);
    return { ...p, group, joints, bones, trail, label, visible: true, showTrail: true, sample: -1 };
  }

  // Sample of person p shown at video frame k, or -1 where they are absent.
  function sampleAt(p, k) {
    const s = Math.floor((k - p.first) / stride);
    return s >= 0 && s < p.count && p.states[s] !== 0 ? s : -1;
  }

  // Scratch objects: poseFrame runs for every frame and every person, so it allocates nothing.
  const m4 = new THREE.Matrix4(), v0 = new THREE.Vector3(), v1 = new THREE.Vector3(), v2 = new THREE.Vector3();
  const q = new THREE.Quaternion();
  const Y = new THREE.Vector3(0, 1, 0), scale = new THREE.Vector3();
  function jointAt(p, s, j, out) {
    const o = (s * NJ + j) * 3;
    return out.set(p.pos[o], p.pos[o + 1], p.pos[o + 2]);
  }

  function poseFrame() {
    for (const p of people) {
      const s = sampleAt(p, frame);
      p.sample = s;
      const shown = s >= 0 && p.visible;
      p.group.visible = shown;
      p.trail.visible = p.visible && p.showTrail && showTrails && s >= 0;
      p.label.hidden = !shown;
      if (s < 0) continue;
      const opacity = p.states[s] === 2 ? 0.45 : 1;  // interpolated frames, as dashed in the video
      p.joints.material.opacity = p.bones.material.opacity = opacity;
      for (let j = 0; j < NJ; j++) {
        const r = picked && picked.id === p.id && picked.joint === j ? JOINT_RADIUS * 1.8 : JOINT_RADIUS;
        m4.makeScale(r, r, r).setPosition(jointAt(p, s, j, v0));
        p.joints.setMatrixAt(j, m4);
      }
      data.skeleton.bones.forEach(([a, b], i) => {
        jointAt(p, s, a, v0);
        jointAt(p, s, b, v1);
        const len = v0.distanceTo(v1);
        q.setFromUnitVectors(Y, v2.subVectors(v1, v0).normalize());
        m4.compose(v0.add(v1).multiplyScalar(0.5), q, scale.set(BONE_RADIUS, len, BONE_RADIUS));
        p.bones.setMatrixAt(i, m4);
      });
      p.joints.instanceMatrix.needsUpdate = p.bones.instanceMatrix.needsUpdate = true;
      p.trail.geometry.setDrawRange(0, s + 1);
      p.label.textContent = "id " + p.id + (p.states[s] === 2 ? " · interp." : "");
    }
    if (following !== null) {
      const p = people.find((x) => x.id === following);
      if (p && p.sample >= 0) {
        jointAt(p, p.sample, 0, v0);
        v1.copy(v0).sub(controls.target);
        controls.target.add(v1);
        camera.position.add(v1);
        controls.update();
      }
    }
  }

  function placeLabels() {
    const w = canvas.clientWidth, h = canvas.clientHeight;
    for (const p of people) {
      if (p.label.hidden) continue;
      jointAt(p, p.sample, HEAD, v0).y += 0.12;
      v0.project(camera);
      const off = v0.z > 1 || Math.abs(v0.x) > 1.2 || Math.abs(v0.y) > 1.2;
      p.label.style.visibility = off ? "hidden" : "visible";
      p.label.style.left = ((v0.x + 1) / 2) * w + "px";
      p.label.style.top = ((1 - v0.y) / 2) * h + "px";
    }
  }

  let drawPending = false;
  function draw() {
    if (drawPending) return;
    drawPending = true;
    requestAnimationFrame(() => {
      drawPending = false;
      drawNow();
    });
  }
  function drawNow() {
    renderer.render(scene, camera);
    placeLabels();
  }

  function resize() {
    const pane = $("scene-pane"), w = Math.max(1, pane.clientWidth), h = Math.max(1, pane.clientHeight);
    renderer.setSize(w, h, false);
    camera.aspect = w / h;
    camera.updateProjectionMatrix();
    drawNow();
  }

  function resetView() {
    following = null;
    camera.position.fromArray(data.view.eye);
    controls.target.fromArray(data.view.target);
    controls.update();
    updatePeopleList();
    draw();
  }

  // ---- time: the video when there is one, a clock otherwise ------------------------------
  const video = $("video");
  let useVideo = !!data.video;
  let clockStart = 0, clockFrame = 0;
  const clampFrame = (k) => Math.min(numFrames - 1, Math.max(0, Math.round(k)));

  function setFrame(k) {
    k = clampFrame(k);
    frame = k;
    poseFrame();
    const slider = $("slider");
    if (document.activeElement !== slider || !slider.matches(":active")) slider.value = String(k);
    $("clock").textContent = `${k} / ${numFrames - 1} · ${(k / fps).toFixed(2)} s`;
    $("info-frame").textContent = String(k);
    $("info-time").textContent = (k / fps).toFixed(3);
    showPick();
    drawNow();
  }

  function setPlaying(on) {
    playing = on;
    $("play").classList.toggle("playing", on);
    $("play").title = (on ? "pause" : "play") + " (space)";
  }

  // The clock (no video) counts from frame k now.
  function restartClock(k) {
    clockStart = performance.now();
    clockFrame = k;
  }

  function play() {
    if (frame >= numFrames - 1) seek(0);
    setPlaying(true);
    if (useVideo) {
      startVideo();
    } else {
      restartClock(frame);
      requestAnimationFrame(tick);
    }
  }

  function pause() {
    setPlaying(false);
    playAfterSeek = false;
    if (useVideo && !video.paused) {
      video.pause();
      // Land on the frame on screen so the paused video and the 3D agree.
      seekVideo(frame);
    }
  }

  // Show frame k in the video (the middle of its display interval). One seek at a time:
  // Chromium's media pipeline can stall for good ("waiting" with everything buffered) when
  // seeks overlap and play() follows, so a seek asked for during another waits for it.
  let pendingSeek = null, playAfterSeek = false;
  function seekVideo(k) {
    const t = (k + 0.5) / fps;
    if (video.readyState < 1) return;
    if (video.seeking) pendingSeek = t;
    else if (Math.abs(video.currentTime - t) > 0.25 / fps) video.currentTime = t;
  }
  function onSeeked() {
    if (pendingSeek !== null) {
      const t = pendingSeek;
      pendingSeek = null;
      if (Math.abs(video.currentTime - t) > 0.25 / fps) { video.currentTime = t; return; }
    }
    if (playAfterSeek) { playAfterSeek = false; startVideo(); }
    else if (!playing) setFrame(Math.floor(video.currentTime * fps + 1e-3));
  }
  function startVideo() {
    if (video.seeking) { playAfterSeek = true; return; }
    video.playbackRate = speed;
    const started = video.play();
    if (started) started.catch((e) => { setPlaying(false); console.warn("video did not play:", e.message); });
  }

  function tick(now) {
    if (!playing || useVideo) return;
    const k = clockFrame + Math.floor(((now - clockStart) / 1000) * fps * speed);
    if (k >= numFrames - 1) {
      setFrame(numFrames - 1);
      setPlaying(false);
      return;
    }
    if (k !== frame) setFrame(k);
    requestAnimationFrame(tick);
  }

  function seek(k) {
    k = clampFrame(k);
    if (useVideo) seekVideo(k);
    else if (playing) restartClock(k);
    setFrame(k);
    return frame;
  }

  function setSpeed(s) {
    speed = Number(s) || 1;
    $("speed").value = String(speed);
    if (useVideo) video.playbackRate = speed;
    else if (playing) restartClock(frame);
  }

  function useClock(reason) {
    useVideo = false;
    video.removeAttribute("src");
    $("video").hidden = true;
    const missing = $("video-missing");
    if (reason) {
      missing.hidden = false;
      missing.textContent = reason;
    } else {
      $("video-pane").classList.add("none");
    }
  }

  function attachVideo() {
    if (!data.video) return useClock(null);
    video.addEventListener("error", () => {
      useClock(`The video ${decodeURIComponent(data.video)} could not be loaded (it belongs beside this page); the 3D plays on its own.`);
      setPlaying(false);
      resize();
    });
    // Frame-accurate: the frame's own timestamp, as it is presented.
    if ("requestVideoFrameCallback" in video) {
      const onFrame = (_now, meta) => {
        // While paused, a frame from a superseded seek must not undo the latest seek.
        if (useVideo && (playing || (!video.seeking && pendingSeek === null))) setFrame(Math.round(meta.mediaTime * fps));
        video.requestVideoFrameCallback(onFrame);
      };
      video.requestVideoFrameCallback(onFrame);
    } else {
      video.addEventListener("timeupdate", () => setFrame(Math.floor(video.currentTime * fps + 1e-3)));
    }
    video.addEventListener("seeked", onSeeked);
    video.addEventListener("ended", () => { setPlaying(false); setFrame(numFrames - 1); });
    video.addEventListener("pause", () => { if (!playAfterSeek) setPlaying(false); });
    video.addEventListener("play", () => setPlaying(true));
    video.src = data.video;
  }

  // ---- picking: the joint nearest the click on screen ------------------------------------
  function pickAt(x, y) {
    let best = null, bestD = PICK_PIXELS;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    for (const p of people) {
      if (!p.group.visible) continue;
      for (let j = 0; j < NJ; j++) {
        jointAt(p, p.sample, j, v0).project(camera);
        const d = Math.hypot(((v0.x + 1) / 2) * w - x, ((1 - v0.y) / 2) * h - y);
        if (v0.z < 1 && d < bestD) { bestD = d; best = { id: p.id, joint: j }; }
      }
    }
    pick(best);
  }

  function pick(sel) {
    picked = sel && people.some((p) => p.id === sel.id) ? { id: sel.id, joint: sel.joint } : null;
    poseFrame();
    showPick();
    draw();
    return picked;
  }

  function showPick() {
    const el = $("info-pick");
    const p = picked && people.find((x) => x.id === picked.id);
    el.classList.toggle("picked", !!p);
    if (!p) { el.textContent = "click a joint to see its coordinates"; return; }
    const name = `id ${p.id} · ${data.skeleton.joints[picked.joint]}`;
    if (p.sample < 0) { el.textContent = `${name}: not in this frame`; return; }
    jointAt(p, p.sample, picked.joint, v0);
    el.textContent = `${name}: x ${v0.x.toFixed(3)}, y ${v0.y.toFixed(3)}, z ${v0.z.toFixed(3)} m`;
  }

  // ---- side panel ------------------------------------------------------------------------
  function updatePeopleList() {
    for (const p of people) p.followButton.classList.toggle("on", following === p.id);
  }

  function buildPeopleList() {
    const list = $("people");
    if (!people.length) list.innerHTML = "<li>nobody</li>";
    for (const p of people) {
      const li = document.createElement("li");
      const show = Object.assign(document.createElement("input"), { type: "checkbox", checked: true, title: "show" });
      const trail = Object.assign(document.createElement("input"), { type: "checkbox", checked: true, title: "trail" });
      const swatch = Object.assign(document.createElement("span"), { className: "swatch" });
      swatch.style.background = p.colour;
      const name = Object.assign(document.createElement("span"), { className: "name", textContent: "id " + p.id });
      const follow = Object.assign(document.createElement("button"), { type: "button", textContent: "follow" });
      show.addEventListener("change", () => setVisible(p.id, show.checked));
      trail.addEventListener("change", () => setTrail(p.id, trail.checked));
      follow.addEventListener("click", () => follow_(following === p.id ? null : p.id));
      const trailLabel = document.createElement("label");
      trailLabel.append(trail, " trail");
      li.append(show, swatch, name, trailLabel, follow);
      li.dataset.trackId = p.id;
      p.showBox = show;
      p.trailBox = trail;
      p.followButton = follow;
      list.appendChild(li);
    }
  }

  const person = (id) => people.find((p) => p.id === id);
  // Sets one person's switch (p[key]) and its checkbox (p[box]); false for an unknown id.
  function setSwitch(id, key, box, on) {
    const p = person(id);
    if (!p) return false;
    p[key] = p[box].checked = !!on;
    setFrame(frame);
    return true;
  }
  const setVisible = (id, on) => setSwitch(id, "visible", "showBox", on);
  const setTrail = (id, on) => setSwitch(id, "showTrail", "trailBox", on);
  function follow_(id) {
    following = id === null || id === undefined || !person(id) ? null : id;
    updatePeopleList();
    setFrame(frame);
    return following;
  }
  function setGrid(on) { grid.visible = $("show-grid").checked = !!on; draw(); }
  function setFrustum(on) { if (frustum) frustum.visible = !!on; $("show-frustum").checked = !!on; draw(); }
  function setTrails(on) { showTrails = $("show-trails").checked = !!on; setFrame(frame); }

  function bindControls() {
    $("play").addEventListener("click", () => (playing ? pause() : play()));
    $("step-back").addEventListener("click", () => { pause(); seek(frame - 1); });
    $("step-fwd").addEventListener("click", () => { pause(); seek(frame + 1); });
    $("slider").max = String(numFrames - 1);
    $("slider").addEventListener("input", (e) => seek(Number(e.target.value)));
    $("speed").addEventListener("change", (e) => setSpeed(e.target.value));
    $("show-grid").addEventListener("change", (e) => setGrid(e.target.checked));
    $("show-frustum").addEventListener("change", (e) => setFrustum(e.target.checked));
    $("show-trails").addEventListener("change", (e) => setTrails(e.target.checked));
    if (!frustum) $("show-frustum").parentElement.hidden = true;
    $("reset-view").addEventListener("click", resetView);
    controls.addEventListener("change", draw);
    let down = null;
    canvas.addEventListener("pointerdown", (e) => { down = [e.clientX, e.clientY]; });
    canvas.addEventListener("pointerup", (e) => {
      if (down && Math.hypot(e.clientX - down[0], e.clientY - down[1]) < 4) {
        const r = canvas.getBoundingClientRect();
        pickAt(e.clientX - r.left, e.clientY - r.top);
      }
      down = null;
    });
    const speeds = [0.25, 0.5, 1, 2, 4];
    window.addEventListener("keydown", (e) => {
      if (e.target.tagName === "SELECT" || e.ctrlKey || e.metaKey || e.altKey) return;
      const step = e.shiftKey ? 10 : 1;
      const keys = {
        " ": () => (playing ? pause() : play()),
        ArrowLeft: () => { pause(); seek(frame - step); },
        ArrowRight: () => { pause(); seek(frame + step); },
        Home: () => seek(0),
        End: () => seek(numFrames - 1),
        "+": () => setSpeed(speeds[Math.min(speeds.length - 1, speeds.indexOf(speed) + 1)] || 1),
        "-": () => setSpeed(speeds[Math.max(0, speeds.indexOf(speed) - 1)] || 1),
        r: resetView,
        g: () => setGrid(!grid.visible),
        c: () => setFrustum(!(frustum && frustum.visible)),
      };
      keys["="] = keys["+"];
      const action = keys[e.key];
      if (action) {
        e.preventDefault();  // no page scroll, no double step on a focused slider or button
        action();
      }
    });
    new ResizeObserver(resize).observe($("scene-pane"));
  }

  // ---- the API ---------------------------------------------------------------------------
  function state() {
    const m = new THREE.Matrix4(), v = new THREE.Vector3();
    return {
      frame, time: frame / fps, numFrames, fps, stride, playing, speed,
      mode: useVideo ? "video" : "timeline",
      videoTime: useVideo ? video.currentTime : null,
      slider: Number($("slider").value),
      following, picked, grid: grid.visible, frustum: !!(frustum && frustum.visible),
      skeletons: scene.children.filter((o) => o.userData.trackId !== undefined).length,
      camera: { position: camera.position.toArray(), target: controls.target.toArray() },
      // Joint positions as drawn: read back from the scene's instance matrices.
      people: people.map((p) => ({
        id: p.id, colour: p.colour, visible: p.visible, trail: p.trail.visible, present: p.sample >= 0,
        state: p.sample >= 0 ? p.states[p.sample] : 0,
        joints: p.group.visible
          ? Array.from({ length: NJ }, (_, j) => { p.joints.getMatrixAt(j, m); return v.setFromMatrixPosition(m).toArray(); })
          : null,
      })),
    };
  }

  Object.assign(api, {
    data, seek, play, pause, state, setSpeed, setVisible, setTrail, setGrid, setFrustum, setTrails,
    follow: follow_, resetView, pick, pickAt,
    screenshot: () => { drawNow(); return canvas.toDataURL("image/png"); },
  });

  // ---- boot ------------------------------------------------------------------------------
  async function boot() {
    document.title = data.clip + " · 3D viewer";
    $("title").textContent = data.clip;
    $("notes").textContent = data.notes.join(" ");
    $("info-frames").textContent = String(numFrames - 1);
    const decoded = await Promise.all(data.people.map(decodePerson));
    for (const p of decoded) people.push(makePerson(p));
    $("empty").hidden = people.length > 0;
    buildPeopleList();
    bindControls();
    attachVideo();
    resetView();
    resize();
    setFrame(0);
    api.isReady = true;
    document.body.dataset.ready = "1";
  }

  api.ready = boot().catch((e) => {
    api.error = String(e && e.stack || e);
    $("error").hidden = false;
    $("error").textContent = "The viewer could not start: " + e;
    console.error(e);
  });
})();
