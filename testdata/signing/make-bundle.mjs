#!/usr/bin/env node
// Generates keyless Sigstore bundle fixtures for signing/tests/bundle_fixtures.rs, offline.
//
//   node make-bundle.mjs --out DIR --artifact MANIFEST
//
// Node modules come from $KIT_NODE_PREFIX (a folder where `npm ci` ran with
// testdata/signing/fixtures-npm/package.json). Nothing but 127.0.0.1 is contacted.
//
// Independent implementations do the cryptography: @sigstore/mock's Fulcio CA and CT log
// issue the leaf certificate with its embedded SCT, the unmodified @sigstore/sign client
// requests it and signs over real HTTP, and @peculiar/x509 makes the CA certificates. The
// transparency log is a small Rekor v1 written below, because @sigstore/mock's log stores
// proposed entries verbatim and proves inclusion in a one-leaf tree, which real verifiers
// reject (see testdata/SOURCES.md). It canonicalizes entries as Rekor does (dsse 0.0.1,
// hashedrekord 0.0.1), keeps an RFC 6962 tree with filler leaves around the entry, and signs
// the SET and a checkpoint (signed note) with its key.
//
// Writes DIR/trusted_root.json, DIR/<case>.json (v0.3 bundles, see CASES), alternative
// trusted roots DIR/tr-<name>.json (windows ended, no CT log) and DIR/tr-other.json, a complete
// trusted root of other keys, DIR/tr-root-only.json (the Fulcio root without its intermediate),
// and DIR/cosign-<case>.json (cosign legacy keyless `.sig` layers, see COSIGN_CASES: the
// signature manifest as a string and the payload blob in base64). Identity and issuer default
// to the values in IDENTITY and ISSUER; DIR/meta.json records them with the digest and the
// repository the simple-signing payloads name.
import { createRequire } from 'node:module';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const prefix = process.env.KIT_NODE_PREFIX;
if (!prefix) throw new Error('KIT_NODE_PREFIX must name the folder holding node_modules');
const require = createRequire(path.join(path.resolve(prefix), 'index.js'));
require('reflect-metadata');
const mock = require('@sigstore/mock');
const sign = require('@sigstore/sign');
const { bundleToJSON } = require('@sigstore/bundle');
const specs = require('@sigstore/protobuf-specs');
const x509 = require('@peculiar/x509');
const { Crypto } = require('@peculiar/webcrypto');
const webcrypto = new Crypto();
x509.cryptoProvider.set(webcrypto);

const IDENTITY = 'https://github.com/example/app/.github/workflows/release.yml@refs/heads/main';
const ISSUER = 'https://token.actions.githubusercontent.com';
const REKOR_HOST = 'rekor.sigstore.mock';
const CA_NAME = 'CN=sigstore,O=sigstore.mock'; // the issuer name @sigstore/mock's CA writes
const SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';
const TRUST_START = new Date('2020-01-01T00:00:00Z');

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const out = args.out;
const artifactFile = args.artifact;
if (!out || !artifactFile) throw new Error('usage: make-bundle.mjs --out DIR --artifact MANIFEST');
fs.mkdirSync(out, { recursive: true });
const artifact = fs.readFileSync(artifactFile);

const sha256 = (...parts) => parts.reduce((h, p) => h.update(p), crypto.createHash('sha256')).digest();
const digest = 'sha256:' + sha256(artifact).toString('hex');
const otherDigest = 'sha256:' + 'ab'.repeat(32);
const newKey = () => crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const spki = (kp) => kp.publicKey.export({ format: 'der', type: 'spki' });
const save = (name, value) => fs.writeFileSync(path.join(out, name), JSON.stringify(value, null, 2) + '\n');

// ---------- trust material ----------
async function webKeys(kp) {
  const alg = { name: 'ECDSA', namedCurve: 'P-256' };
  return {
    privateKey: await webcrypto.subtle.importKey('pkcs8', kp.privateKey.export({ format: 'der', type: 'pkcs8' }), alg, true, ['sign']),
    publicKey: await webcrypto.subtle.importKey('spki', spki(kp), alg, true, ['verify']),
  };
}

const newKeys = () => ({ root: newKey(), intermediate: newKey(), ctlog: newKey(), rekor: newKey() });
const farFuture = new Date('2045-01-01T00:00:00Z');
const caExtensions = async (pub, pathLen) => [
  new x509.BasicConstraintsExtension(true, pathLen, true),
  new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
  await x509.SubjectKeyIdentifierExtension.create(pub, false, webcrypto),
];
// Fulcio-like chain: root -> intermediate (issues the leaves).
async function caChain(k) {
  const rootWeb = await webKeys(k.root);
  const interWeb = await webKeys(k.intermediate);
  const rootCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01', name: 'CN=sigstore-root,O=sigstore.mock', notBefore: TRUST_START, notAfter: farFuture,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' }, keys: rootWeb,
    extensions: await caExtensions(rootWeb.publicKey, 1),
  }, webcrypto);
  const interCert = await x509.X509CertificateGenerator.create({
    serialNumber: '02', subject: CA_NAME, issuer: rootCert.subject, notBefore: TRUST_START, notAfter: farFuture,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' }, publicKey: interWeb.publicKey, signingKey: rootWeb.privateKey,
    extensions: [
      ...(await caExtensions(interWeb.publicKey, 0)),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.codeSigning]),
      await x509.AuthorityKeyIdentifierExtension.create(rootWeb.publicKey, false, webcrypto),
    ],
  }, webcrypto);
  return [interCert, rootCert];
}

function trustedRoot(k, chain, { caValidFor, rekorValidFor, ctlogs = true } = {}) {
  const log = (kp, url, validFor) => ({
    baseUrl: url, hashAlgorithm: specs.HashAlgorithm.SHA2_256,
    publicKey: { rawBytes: spki(kp), keyDetails: specs.PublicKeyDetails.PKIX_ECDSA_P256_SHA_256, validFor: validFor || { start: TRUST_START } },
    logId: { keyId: sha256(spki(kp)) },
  });
  return specs.TrustedRoot.toJSON({
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [log(k.rekor, `https://${REKOR_HOST}`, rekorValidFor)],
    certificateAuthorities: [{
      subject: { organization: 'sigstore.mock', commonName: 'sigstore' }, uri: 'https://fulcio.sigstore.mock',
      certChain: { certificates: chain.map((c) => ({ rawBytes: Buffer.from(c.rawData) })) },
      validFor: caValidFor || { start: TRUST_START },
    }],
    ctlogs: ctlogs ? [log(k.ctlog, 'https://ctfe.sigstore.mock')] : [],
    timestampAuthorities: [],
  });
}
const keys = newKeys();
const chain = await caChain(keys);
const otherKeys = newKeys();
save('tr-other.json', trustedRoot(otherKeys, await caChain(otherKeys)));
const ended = { start: TRUST_START, end: new Date('2021-01-01T00:00:00Z') };
save('trusted_root.json', trustedRoot(keys, chain));
save('tr-ca-window-ended.json', trustedRoot(keys, chain, { caValidFor: ended }));
save('tr-rekor-window-ended.json', trustedRoot(keys, chain, { rekorValidFor: ended }));
save('tr-no-ctlog.json', trustedRoot(keys, chain, { ctlogs: false }));

// ---------- Rekor v1 ----------
// RFC 8785 canonical JSON for the plain values Rekor signs (strings, integers, objects, arrays).
const canonical = (v) => {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
};
// Rekor re-encodes a submitted PEM (certificate or key) with 64-column base64 lines.
const repem = (b64) => {
  const text = Buffer.from(b64, 'base64').toString('utf8');
  const label = text.match(/-----BEGIN ([A-Z ]+)-----/)[1];
  const der = Buffer.from(text.replace(/-----[A-Z ]+-----/g, '').replace(/\s/g, ''), 'base64');
  const lines = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return Buffer.from(`-----BEGIN ${label}-----\n${lines}\n-----END ${label}-----\n`).toString('base64');
};
function rekorBody(proposed) {
  const { kind, apiVersion, spec } = proposed;
  if (kind === 'dsse' && apiVersion === '0.0.1') {
    const envelope = spec.proposedContent.envelope;
    const payload = Buffer.from(JSON.parse(envelope).payload, 'base64');
    const verifier = repem(spec.proposedContent.verifiers[0]);
    const signatures = JSON.parse(envelope).signatures.map((s) => ({ signature: s.sig, verifier }));
    signatures.sort((a, b) => (a.signature < b.signature ? -1 : a.signature > b.signature ? 1 : 0));
    return { apiVersion, kind, spec: {
      envelopeHash: { algorithm: 'sha256', value: sha256(envelope).toString('hex') },
      payloadHash: { algorithm: 'sha256', value: sha256(payload).toString('hex') },
      signatures,
    } };
  }
  if (kind === 'hashedrekord' && apiVersion === '0.0.1') {
    return { apiVersion, kind, spec: {
      data: { hash: { algorithm: spec.data.hash.algorithm, value: spec.data.hash.value } },
      signature: { content: spec.signature.content, publicKey: { content: repem(spec.signature.publicKey.content) } },
    } };
  }
  throw new Error(`rekor: unsupported entry ${kind} ${apiVersion}`);
}
const leafHash = (data) => sha256(Buffer.from([0]), data);
const nodeHash = (l, r) => sha256(Buffer.from([1]), l, r);
const splitPoint = (n) => { let k = 1; while (2 * k < n) k *= 2; return k; };
const treeHash = (leaves) => {
  if (leaves.length === 1) return leaves[0];
  const k = splitPoint(leaves.length);
  return nodeHash(treeHash(leaves.slice(0, k)), treeHash(leaves.slice(k)));
};
const proofPath = (m, leaves) => { // RFC 6962 §2.1.1, leaf to root
  if (leaves.length <= 1) return [];
  const k = splitPoint(leaves.length);
  return m < k
    ? [...proofPath(m, leaves.slice(0, k)), treeHash(leaves.slice(k))]
    : [...proofPath(m - k, leaves.slice(k)), treeHash(leaves.slice(0, k))];
};
// `tamper`, when given, edits the canonical entry before the log signs it: the log then vouches
// for an entry that does not describe the submission (attack fixtures only).
function rekorHandler(kp, clock, tamper) {
  const logID = sha256(spki(kp));
  const treeID = crypto.randomInt(1, 2 ** 40);
  return async (requestBody) => {
    const fields = rekorBody(JSON.parse(requestBody));
    if (tamper) tamper(fields);
    const body = Buffer.from(canonical(fields));
    const logIndex = crypto.randomInt(1, 2000);
    const treeSize = logIndex + crypto.randomInt(1, 50);
    const integratedTime = Math.floor((clock ? clock.getTime() : Date.now()) / 1000);
    const leaves = [];
    for (let i = 0; i < treeSize; i++) leaves.push(i === logIndex ? leafHash(body) : leafHash(crypto.randomBytes(32)));
    const rootHash = treeHash(leaves);
    const set = crypto.sign('sha256', Buffer.from(canonical({
      body: body.toString('base64'), integratedTime, logID: logID.toString('hex'), logIndex,
    })), kp.privateKey);
    const note = `${REKOR_HOST} - ${treeID}\n${treeSize}\n${rootHash.toString('base64')}\n`;
    const noteSig = crypto.sign('sha256', Buffer.from(note), kp.privateKey);
    const checkpoint = `${note}\n\u2014 ${REKOR_HOST} ${Buffer.concat([logID.subarray(0, 4), noteSig]).toString('base64')}\n`;
    const entry = {
      body: body.toString('base64'), integratedTime, logID: logID.toString('hex'), logIndex,
      verification: {
        signedEntryTimestamp: set.toString('base64'),
        inclusionProof: {
          logIndex, treeSize, rootHash: rootHash.toString('hex'),
          hashes: proofPath(logIndex, leaves).map((h) => h.toString('hex')), checkpoint,
        },
      },
    };
    return { statusCode: 201, response: JSON.stringify({ [leafHash(body).toString('hex')]: entry }) };
  };
}

// ---------- signing through the services on 127.0.0.1 ----------
async function serve(routes, fn) {
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const handler = req.method === 'POST' ? routes[req.url] : undefined;
      let r = { statusCode: 404, response: 'not found' };
      if (handler) {
        try { r = await handler(Buffer.concat(chunks).toString('utf8')); } catch (e) { r = { statusCode: 400, response: String(e) }; }
      }
      res.writeHead(r.statusCode, { 'Content-Type': 'application/json' });
      res.end(r.response);
    });
  });
  await new Promise((ready) => server.listen(0, '127.0.0.1', ready));
  try {
    return await fn(`http://127.0.0.1:${server.address().port}`);
  } finally {
    server.closeAllConnections();
    await new Promise((done) => server.close(done));
  }
}

function statement(subjectDigest, predicateType) {
  const [alg, hex] = subjectDigest.split(':');
  return Buffer.from(JSON.stringify({
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ digest: { [alg]: hex } }],
    predicateType,
    predicate: {},
  }));
}

async function makeBundle(o = {}) {
  const certTime = o.time ? new Date(o.time) : undefined;
  const logTime = o.logTime ? new Date(o.logTime) : certTime;
  const ctLog = o.noSct ? undefined : await mock.initializeCTLog(o.ctKey || keys.ctlog, certTime);
  const ca = o.noCodeSigning
    ? await serverAuthCA(ctLog, certTime)
    : await mock.initializeCA(o.caKey || keys.intermediate, ctLog, certTime);
  if (o.onCA) o.onCA(ca);
  const fulcio = mock.fulcioHandler(ca);
  const routes = { [fulcio.path]: fulcio.fn, '/api/v1/log/entries': rekorHandler(o.rekorKey || keys.rekor, logTime, o.tamper) };
  const now = Math.floor(Date.now() / 1000);
  const claims = { iss: o.issuer || ISSUER, sub: o.identity || IDENTITY, aud: 'sigstore', iat: now, exp: now + 600 };
  const token = [{ alg: 'none', typ: 'JWT' }, claims].map((p) => Buffer.from(JSON.stringify(p)).toString('base64url')).join('.') + '.';
  return serve(routes, async (url) => {
    const signer = new sign.FulcioSigner({ fulcioBaseURL: url, identityProvider: { getToken: async () => token }, retry: 0, timeout: 5000 });
    const witnesses = [new sign.RekorWitness({ rekorBaseURL: url, entryType: 'dsse', retry: 0, timeout: 5000 })];
    let built;
    if (o.message) {
      built = await new sign.MessageSignatureBundleBuilder({ signer, witnesses }).create({ data: o.data || artifact });
    } else {
      const data = o.payload ? Buffer.from(o.payload) : statement(o.digest || digest, o.predicateType || SIGN_PREDICATE);
      built = await new sign.DSSEBundleBuilder({ signer, witnesses, certificateChain: false })
        .create({ data, type: o.payloadType || 'application/vnd.in-toto+json' });
    }
    const json = bundleToJSON(built);
    // The message builder emits v0.2 (a one-certificate chain); v0.3 carries the leaf alone.
    // mediaType and verificationMaterial are not signed, so this rewrite keeps the bundle valid.
    if (json.verificationMaterial.x509CertificateChain) {
      const { x509CertificateChain, ...rest } = json.verificationMaterial;
      json.verificationMaterial = { certificate: x509CertificateChain.certificates[0], ...rest };
    }
    json.mediaType = 'application/vnd.dev.sigstore.bundle.v0.3+json';
    return json;
  });
}

// Cases that need the services (tampering with finished bundles is done by the Rust tests).
const hour = 3600e3;
const t0 = Date.now();
const CASES = {
  'good-dsse': {},
  'good-dsse-2': {},
  'good-message': { message: true },
  'good-old-but-logged-in-time': { time: '2024-06-01T12:00:00Z', logTime: '2024-06-01T12:05:00Z' },
  'other-digest': { digest: otherDigest },
  'other-predicate': { predicateType: 'https://slsa.dev/provenance/v1' },
  'not-intoto': { payloadType: 'text/plain', payload: 'hello' },
  'wrong-identity': { identity: 'https://github.com/evil/app/.github/workflows/release.yml@refs/heads/main' },
  'wrong-issuer': { issuer: 'https://accounts.example.com' },
  'cert-expired': { time: new Date(t0 - hour).toISOString(), logTime: new Date(t0).toISOString() },
  'cert-not-yet-valid': { time: new Date(t0).toISOString(), logTime: new Date(t0 - hour).toISOString() },
  'untrusted-ca': { caKey: newKey() },
  'untrusted-rekor': { rekorKey: newKey() },
  'untrusted-ctlog': { ctKey: newKey() },
  'no-sct': { noSct: true },
};
for (const [name, options] of Object.entries(CASES)) save(`${name}.json`, await makeBundle(options));

// ---------- cosign legacy keyless `.sig` layers ----------
// `cosign sign` without a key (cosign v2, `--new-bundle-format=false`) signs the simple-signing
// payload with an ephemeral key certified by Fulcio, logs a hashedrekord entry (sha256 of the
// payload, the signature, the leaf PEM) in Rekor, and stores one layer in the
// `sha256-<hex>.sig` manifest: the payload blob plus the signature, certificate, chain and
// bundle (SET) annotations (cosign `pkg/oci/static`, `pkg/cosign/bundle/rekor.go`). Here the
// unmodified @sigstore/sign client does the Fulcio and Rekor part as for a message-signature
// bundle over the payload bytes, which is exactly that signature and that entry; the bundle is
// then rewritten into cosign's annotations.
const REPOSITORY = 'registry.example/kit/app';
const pem = (label, der) => `-----BEGIN ${label}-----\n${Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END ${label}-----\n`;
const simpleSigning = (d) => Buffer.from(JSON.stringify({
  critical: { identity: { 'docker-reference': REPOSITORY }, image: { 'docker-manifest-digest': d }, type: 'cosign container image signature' },
  optional: null,
}));
// A CA holding the trusted intermediate's key that issues leaves with the serverAuth EKU
// instead of codeSigning (otherwise as @sigstore/mock's CA: SAN URI, issuer extensions, SCT).
async function serverAuthCA(ctLog, clock) {
  const caWeb = await webKeys(keys.intermediate);
  const utf8 = (text) => { const v = Buffer.from(text); return Buffer.concat([Buffer.from([0x0c, v.length]), v]); };
  const derOctets = (v) => {
    const len = v.length < 0x80 ? Buffer.from([v.length]) : Buffer.from([0x82, v.length >> 8, v.length & 0xff]);
    return Buffer.concat([Buffer.from([0x04]), len, v]);
  };
  const u16 = (n) => Buffer.from([n >> 8, n & 0xff]);
  return {
    rootCertificate: Buffer.from(chain[0].rawData),
    async issueCertificate(opts) {
      const alg = { name: 'ECDSA', namedCurve: 'P-256' };
      const publicKey = await webcrypto.subtle.importKey('spki', opts.publicKey, alg, true, ['verify']);
      const now = clock || new Date();
      const tbs = {
        serialNumber: '0bad', notBefore: now, notAfter: new Date(now.getTime() + 600e3), issuer: CA_NAME,
        publicKey, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' }, signingKey: caWeb.privateKey,
        extensions: [
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
          new x509.SubjectAlternativeNameExtension([{ type: 'url', value: opts.subjectAltName }], true),
          ...(opts.extensions || []).map((e) => new x509.Extension(e.oid, false, e.legacy ? Buffer.from(e.value) : utf8(e.value))),
        ],
      };
      if (ctLog) {
        const pre = await x509.X509CertificateGenerator.create(tbs, webcrypto);
        const sct = Buffer.from(await ctLog.log(pre.rawData, sha256(spki(keys.intermediate))));
        const list = Buffer.concat([u16(sct.length + 2), u16(sct.length), sct]);
        tbs.extensions.push(new x509.Extension('1.3.6.1.4.1.11129.2.4.2', false, derOctets(list)));
      }
      return Buffer.from((await x509.X509CertificateGenerator.create(tbs, webcrypto)).rawData);
    },
  };
}
async function makeCosignLayer(o = {}) {
  const payload = simpleSigning(o.digest || digest);
  let ca;
  const b = await makeBundle({ ...o, message: true, data: payload, onCA: (c) => { ca = c; } });
  const entry = b.verificationMaterial.tlogEntries[0];
  const leaf = Buffer.from(b.verificationMaterial.certificate.rawBytes, 'base64');
  // cosign copies Fulcio's chain; an untrusted CA's chain is its own self-signed certificate.
  const chainDer = o.caKey ? [ca.rootCertificate] : chain.map((c) => Buffer.from(c.rawData));
  const layer = {
    mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
    size: payload.length,
    digest: 'sha256:' + sha256(payload).toString('hex'),
    annotations: {
      'dev.cosignproject.cosign/signature': b.messageSignature.signature,
      'dev.sigstore.cosign/certificate': pem('CERTIFICATE', leaf),
      'dev.sigstore.cosign/chain': chainDer.map((der) => pem('CERTIFICATE', der)).join(''),
      'dev.sigstore.cosign/bundle': JSON.stringify({
        SignedEntryTimestamp: entry.inclusionPromise.signedEntryTimestamp,
        Payload: {
          body: entry.canonicalizedBody,
          integratedTime: Number(entry.integratedTime),
          logIndex: Number(entry.logIndex),
          logID: Buffer.from(entry.logId.keyId, 'base64').toString('hex'),
        },
      }),
    },
  };
  const config = Buffer.from('{}');
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', size: config.length, digest: 'sha256:' + sha256(config).toString('hex') },
    layers: [layer],
  });
  return { manifest, payload: payload.toString('base64') };
}
const otherSignature = crypto.sign('sha256', Buffer.from('another payload'), newKey().privateKey).toString('base64');
const COSIGN_CASES = {
  'good': {},
  'good-2': {},
  'other-digest': { digest: otherDigest },
  'wrong-identity': { identity: 'https://github.com/evil/app/.github/workflows/release.yml@refs/heads/main' },
  'wrong-issuer': { issuer: 'https://accounts.example.com' },
  'untrusted-ca': { caKey: newKey() },
  'untrusted-rekor': { rekorKey: newKey() },
  'untrusted-ctlog': { ctKey: newKey() },
  'no-sct': { noSct: true },
  'no-code-signing': { noCodeSigning: true },
  'cert-expired': { time: new Date(t0 - hour).toISOString(), logTime: new Date(t0).toISOString() },
  'cert-not-yet-valid': { time: new Date(t0).toISOString(), logTime: new Date(t0 - hour).toISOString() },
  'body-other-hash': { tamper: (e) => { e.spec.data.hash.value = 'cd'.repeat(32); } },
  'body-other-signature': { tamper: (e) => { e.spec.signature.content = otherSignature; } },
  'body-other-certificate': { tamper: (e) => { e.spec.signature.publicKey.content = Buffer.from(pem('CERTIFICATE', chain[0].rawData)).toString('base64'); } },
};
for (const [name, options] of Object.entries(COSIGN_CASES)) save(`cosign-${name}.json`, await makeCosignLayer(options));
// A trusted root listing only the Fulcio root: leaves then chain through the annotation's
// intermediate.
save('tr-root-only.json', trustedRoot(keys, [chain[1]]));
save('meta.json', { digest, otherDigest, identity: IDENTITY, issuer: ISSUER, repository: REPOSITORY });
