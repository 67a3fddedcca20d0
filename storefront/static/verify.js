// Gốc: re-checks a batch page's ledger entries on the buyer's own device.
//
// The page embeds the trust roots (the log's and the authorities' verifier keys) and links the
// batch's subject bundle. This script trusts nothing else: from the bundle's bytes it rebuilds
// every signed message and hash of docs/ledger-format.md (statement "goc/statement/v1\n" ||
// RFC 8785 bytes, entry hash, RFC 6962 leaf and inclusion proof, C2SP checkpoint note), replays
// the household's key.register/key.revoke entries signed by an authority, and checks that what
// the page shows is what was signed. Without Ed25519 in WebCrypto it leaves the server's verdict
// and says so. Plain JS, no dependencies, no build step.
"use strict";
(() => {
  const box = document.getElementById("device-check");
  if (!box) return;
  const say = box.dataset;
  const utf8 = new TextEncoder();
  const ZERO = new Uint8Array(32);
  const HEX64 = /^[0-9a-f]{64}$/;
  const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,5}[1-9])?Z$/;

  const b64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  const unhex = (text) => {
    if (!HEX64.test(text)) throw new Error("not a hash");
    return Uint8Array.from(text.match(/../g), (h) => parseInt(h, 16));
  };
  const concat = (...parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
    return out;
  };
  const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  const sha256 = async (...parts) =>
    new Uint8Array(await crypto.subtle.digest("SHA-256", concat(...parts)));
  const u64be = (n) => {
    const out = new Uint8Array(8);
    new DataView(out.buffer).setBigUint64(0, BigInt(n));
    return out;
  };

  const importEd25519 = (publicKey) =>
    crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
  async function ed25519(publicKey, signature, message) {
    try {
      return await crypto.subtle.verify(
        { name: "Ed25519" }, await importEd25519(publicKey), signature, message);
    } catch (e) {
      return false;
    }
  }

  // A C2SP verifier key "<name>+<key ID>+<base64(0x01 || key)>", its key ID recomputed.
  async function verifierKey(text) {
    const first = text.indexOf("+");
    const second = text.indexOf("+", first + 1);
    const name = text.slice(0, first);
    const raw = b64(text.slice(second + 1));
    if (first < 1 || raw.length !== 33 || raw[0] !== 1) throw new Error("bad key");
    const publicKey = raw.slice(1);
    const keyId = (await sha256(utf8.encode(name + "\n"), raw.slice(0, 1), publicKey)).slice(0, 4);
    if (hex(keyId) !== text.slice(first + 1, second)) throw new Error("bad key ID");
    const statementKeyId = hex(await sha256(utf8.encode("goc/key/v1\n"), publicKey));
    return { name, keyId, publicKey, statementKeyId };
  }

  // The checkpoint {size, root} if the note is signed by the log key, else null.
  async function checkpoint(note, logKey) {
    const cut = note.lastIndexOf("\n\n");
    if (cut < 0 || !note.endsWith("\n")) return null;
    const text = note.slice(0, cut + 1);
    let signed = false;
    for (const line of note.slice(cut + 2, -1).split("\n")) {
      const [name, blob] = line.replace(/^\u2014 /, "").split(" ");
      const raw = b64(blob || "");
      if (!line.startsWith("\u2014 ") || raw.length < 5) return null;
      if (name !== logKey.name || !equal(raw.slice(0, 4), logKey.keyId)) continue;
      if (!(await ed25519(logKey.publicKey, raw.slice(4), utf8.encode(text)))) return null;
      signed = true;
    }
    const [origin, size, root] = text.split("\n");
    if (!signed || origin !== logKey.name || !/^(0|[1-9]\d*)$/.test(size)) return null;
    const rootHash = b64(root);
    return rootHash.length === 32 ? { size: Number(size), root: rootHash } : null;
  }

  // RFC 9162 2.1.3.2: is `leaf` at `index` of the tree of `size` with this root?
  async function included(index, size, leaf, proof, root) {
    if (index >= size) return false;
    let fn = index, sn = size - 1, r = leaf;
    for (const p of proof) {
      if (sn === 0) return false;
      if (fn % 2 === 1 || fn === sn) {
        r = await sha256(Uint8Array.of(1), p, r);
        while (fn % 2 === 0 && fn !== 0) {
          fn /= 2;
          sn = Math.floor(sn / 2);
        }
      } else {
        r = await sha256(Uint8Array.of(1), r, p);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    return sn === 0 && equal(r, root);
  }

  // RFC 8785 bytes of an all-NFC JSON value (JSON.stringify writes strings and numbers as
  // JCS does; default sort compares UTF-16 code units, as JCS orders properties).
  function jcs(value) {
    if (typeof value === "string") {
      if (value !== value.normalize("NFC")) throw new Error("not NFC");
      return JSON.stringify(value);
    }
    if (typeof value === "number" && !Number.isFinite(value)) throw new Error("not I-JSON");
    if (value === null || typeof value !== "object") return JSON.stringify(value);
    if (Array.isArray(value)) return "[" + value.map(jcs).join(",") + "]";
    const keys = Object.keys(value).sort();
    return "{" + keys.map((k) => jcs(k) + ":" + jcs(value[k])).join(",") + "}";
  }

  // The statement if its bytes are exactly the canonical bytes of the value they parse to.
  function statement(bytes) {
    try {
      const s = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
      const ok =
        s && s.v === 1 && typeof s.kind === "string" && typeof s.subject === "string" &&
        HEX64.test(s.key) && TIME.test(s.time) && s.body && typeof s.body === "object" &&
        !Array.isArray(s.body) && Array.isArray(s.attachments) &&
        s.attachments.every((a) => HEX64.test(a)) && Object.keys(s).length === 7 &&
        equal(utf8.encode(jcs(s)), bytes);
      return ok ? s : null;
    } catch (e) {
      return null;
    }
  }

  async function entry(line, seal) {
    const data = b64(line.statement);
    const signature = b64(line.signature);
    const message = concat(utf8.encode("goc/statement/v1\n"), data);
    const hash = await sha256(
      utf8.encode("goc/entry/v1\n"), u64be(line.seq), u64be(line.received),
      unhex(line.prev), unhex(line.subject_prev), await sha256(message), signature);
    const leaf = await sha256(Uint8Array.of(0), hash);
    const proof = (line.proof || []).map(unhex);
    return {
      seq: line.seq,
      claimed: line.hash,
      subjectPrev: line.subject_prev,
      statement: statement(data),
      message,
      signature,
      hashOk: hex(hash) === line.hash,
      included: !!seal && (await included(line.seq, seal.size, leaf, proof, seal.root)),
    };
  }

  // The owner's keys from its key entries that an authority signed and the log includes.
  async function replayKeys(entries, owner, authorities) {
    const keys = new Map();
    for (const e of entries) {
      const s = e.statement;
      const authority = s && authorities.get(s.key);
      if (!authority || s.subject !== owner || !e.hashOk || !e.included) continue;
      if (s.kind !== "key.register" && s.kind !== "key.revoke") continue;
      if (!(await ed25519(authority.publicKey, e.signature, e.message))) continue;
      if (s.kind === "key.register" && typeof s.body.public_key === "string") {
        const publicKey = b64(s.body.public_key);
        const id = hex(await sha256(utf8.encode("goc/key/v1\n"), publicKey));
        if (publicKey.length === 32 && !keys.has(id) && !authorities.has(id)) {
          keys.set(id, { owner, publicKey, registered: e.seq, revoked: null });
        }
      } else if (s.kind === "key.revoke") {
        const key = keys.get(s.body.key);
        if (key && key.revoked === null) key.revoked = e.seq;
      }
    }
    return keys;
  }

  const VN_TIME = new Intl.DateTimeFormat("en-GB", {
    timeZone: "Asia/Ho_Chi_Minh", day: "2-digit", month: "2-digit", year: "numeric",
    hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  });
  function shownTime(iso) {
    const part = {};
    for (const p of VN_TIME.formatToParts(new Date(iso.replace(/\.\d+Z$/, "Z")))) {
      part[p.type] = p.value;
    }
    return `${part.day}/${part.month}/${part.year} ${part.hour}:${part.minute}`;
  }

  // Does the page element show what the statement says?
  async function matches(el, s, subject) {
    if (!s || s.subject !== subject || s.kind !== el.dataset.kind) return false;
    if (el.dataset.fields) {
      const fields = JSON.parse(el.dataset.fields);
      return Object.keys(fields).every(
        (k) => JSON.stringify(k in s.body ? s.body[k] : null) === JSON.stringify(fields[k]));
    }
    const time = el.querySelector("time");
    const photos = Array.from(
      el.querySelectorAll(".thumbs > a"), (a) => a.pathname.replace(/^\/p\/|\.jpg$/g, ""));
    return (
      !!time && time.dateTime === s.time && time.textContent === shownTime(s.time) &&
      hex(await sha256(utf8.encode(jcs(s.body)))) === el.dataset.body &&
      JSON.stringify(photos) === JSON.stringify(s.attachments)
    );
  }

  function report(el, failed) {
    const mark = document.createElement("span");
    mark.className = "verdict device " + (failed.length ? "bad" : "ok");
    mark.textContent = failed.length ? `✗ ${say.bad}` : `✓ ${say.ok}`;
    const verdict = el.querySelector(".verdict");
    const list = document.createElement("ul");
    list.className = "checks device";
    for (const check of failed) {
      const item = document.createElement("li");
      item.className = "bad";
      item.textContent = say[check];
      list.append(item);
    }
    const after = verdict && verdict.nextElementSibling && verdict.nextElementSibling.matches(".checks")
      ? verdict.nextElementSibling : verdict;
    if (after) after.after(mark, list);
    else el.append(mark, list);
  }

  function banner(text, bad) {
    box.textContent = text;
    box.classList.toggle("bad", !!bad);
    box.dataset.state = bad ? "failed" : "verified";
    box.hidden = false;
  }

  async function run() {
    const logKey = await verifierKey(say.logKey);
    try {
      await importEd25519(logKey.publicKey);
    } catch (e) {
      banner(say.fallback);
      box.dataset.state = "fallback";
      return;
    }
    const authorities = new Map();
    for (const text of say.authorityKeys.split(" ")) {
      const key = await verifierKey(text);
      authorities.set(key.statementKeyId, key);
    }
    box.textContent = say.checking;
    box.hidden = false;
    let lines;
    try {
      const response = await fetch(say.bundle, { headers: { Accept: "application/jsonl" } });
      if (!response.ok) throw new Error(String(response.status));
      lines = (await response.text()).split("\n").filter((l) => l.trim()).map(JSON.parse);
    } catch (e) {
      banner(say.unavailable);
      box.dataset.state = "unavailable";
      return;
    }
    const note = lines.find((l) => l.type === "checkpoint");
    // Malformed data (bad base64, a missing field) fails its own check, not the whole page.
    const seal = note ? await checkpoint(note.note, logKey).catch(() => null) : null;
    const entries = [];
    for (const line of lines.filter((l) => l.type === "entry").sort((a, b) => a.seq - b.seq)) {
      const broken = { seq: line.seq, claimed: line.hash, statement: null, hashOk: false };
      entries.push(await entry(line, seal).catch(() => broken));
    }
    const keys = await replayKeys(entries, say.owner, authorities);
    const shown = new Map(
      Array.from(document.querySelectorAll(".entry[data-seq]"), (el) => [Number(el.dataset.seq), el]));
    let previous = hex(ZERO);
    let allOk = !!seal;
    const seen = new Set();
    for (const e of entries) {
      const s = e.statement;
      if (!(s && s.subject === say.subject) && !shown.has(e.seq)) continue;
      const chained = e.subjectPrev === previous && e.hashOk;
      previous = e.claimed;
      const key = s && keys.get(s.key);
      const signed = !!key && key.owner === say.owner && key.registered < e.seq &&
        (key.revoked === null || key.revoked > e.seq) &&
        (await ed25519(key.publicKey, e.signature, e.message));
      const el = shown.get(e.seq);
      if (!el) continue;
      seen.add(e.seq);
      const failed = Object.entries({
        signed, chained, included: e.included, matches: await matches(el, s, say.subject),
      }).filter(([, ok]) => !ok).map(([check]) => check);
      allOk = allOk && !failed.length;
      report(el, failed);
    }
    for (const [seq, el] of shown) {
      if (!seen.has(seq)) {
        report(el, ["signed", "chained", "included", "matches"]);
        allOk = false;
      }
    }
    const failure = seal ? say.batchBad : `${say.batchBad} ${say.seal}`;
    banner(allOk ? `✓ ${say.batchOk}` : `✗ ${failure}`, !allOk);
  }

  run().catch((error) => {
    console.error(error);
    banner(say.unavailable);
    box.dataset.state = "unavailable";
  });
})();
