// Notary Project (Notation) signature fixtures for signing/tests/notation_fixtures.rs.
//
//   node make-notation.mjs --out DIR [--target-digest sha256:HEX --target-size N
//                                     --target-media-type TYPE] [--only-good]
//
// The envelopes sign the fixed manifest below unless --target-* name another artifact (all
// three together, e.g. an image pushed by an end-to-end test). --only-good writes only the
// good-* envelopes (and makes only the leaves they need, no cosign signature), for tests that
// need valid signatures quickly.
//
// Writes into DIR:
//   pki/root.pem, pki/rogue-root.pem          the trusted root and an untrusted one (same name)
//   <case>.jws / <case>.cose                   envelopes, good ones and attacks (see CASES)
//   cosign.pub, cosign-payload.json, cosign-signature.b64   a cosign keyed signature of the
//                                              same manifest, for the threshold case
//   meta.json                                  {digest, otherDigest, mediaType, size, now}
//
// Independent tools: the PKI is made by the openssl CLI (`openssl ca`, real dates), signatures
// by node's crypto (ECDSA as IEEE P1363 r||s, RSASSA-PSS with salt = digest length), COSE
// encoding by the npm `cbor` package. Node modules come from $KIT_NODE_PREFIX (a folder where
// `npm ci` ran with testdata/signing/fixtures-npm). Times are "now": run at test time, never
// commit the output.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const prefix = process.env.KIT_NODE_PREFIX;
if (!prefix) throw new Error('KIT_NODE_PREFIX must name the folder holding node_modules');
const require = createRequire(path.join(path.resolve(prefix), 'index.js'));
const cbor = require('cbor');

const args = process.argv.slice(2);
const option = (name) => {
  const idx = args.indexOf(name);
  if (idx < 0) return undefined;
  if (!args[idx + 1]) throw new Error(`${name} needs a value`);
  return args[idx + 1];
};
const outArg = option('--out');
if (!outArg) throw new Error('usage: make-notation.mjs --out DIR [--target-digest D --target-size N --target-media-type T] [--only-good]');
const out = path.resolve(outArg);
const onlyGood = args.includes('--only-good');
const targetArgs = ['--target-digest', '--target-size', '--target-media-type'].map(option);
if (targetArgs.some((a) => a !== undefined) && targetArgs.some((a) => a === undefined)) {
  throw new Error('--target-digest, --target-size and --target-media-type go together');
}
if (targetArgs[0] !== undefined && !/^sha256:[0-9a-f]{64}$/.test(targetArgs[0])) throw new Error(`bad --target-digest ${targetArgs[0]}`);
if (targetArgs[1] !== undefined && !/^[0-9]+$/.test(targetArgs[1])) throw new Error(`bad --target-size ${targetArgs[1]}`);
const pki = path.join(out, 'pki');
fs.mkdirSync(pki, { recursive: true });

// --- The signed manifest: any bytes; its descriptor is what the payload names. ---
const manifest = Buffer.from(
  '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}',
);
const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');
const target = targetArgs[0] === undefined ? {
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: `sha256:${sha256(manifest)}`,
  size: manifest.length,
} : { mediaType: targetArgs[2], digest: targetArgs[0], size: Number(targetArgs[1]) };
const otherDigest = `sha256:${sha256(Buffer.from('another manifest'))}`;
const nowSec = Math.floor(Date.now() / 1000);
const rfc3339 = (sec) => new Date(sec * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

// --- PKI with the openssl CLI ---
const openssl = (...a) => execFileSync('openssl', a, { cwd: pki, stdio: ['ignore', 'pipe', 'pipe'] });
fs.writeFileSync(
  path.join(pki, 'ca.cnf'),
  `[ ca ]
default_ca = kit
[ kit ]
database = index.txt
new_certs_dir = .
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
rand_serial = yes
[ anything ]
countryName = optional
stateOrProvinceName = optional
localityName = optional
organizationName = optional
commonName = supplied
[ req ]
distinguished_name = dn
[ dn ]
[ root ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[ inter ]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ inter_open ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
[ inter_notca ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,keyCertSign,cRLSign
[ inter_nocertsign ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,cRLSign,digitalSignature
[ leaf ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = codeSigning
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ leaf_serverauth ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
[ leaf_ocsp ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = OCSPSigning
[ leaf_ca ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,digitalSignature
extendedKeyUsage = codeSigning
[ leaf_ku_noncrit ]
basicConstraints = critical,CA:FALSE
keyUsage = digitalSignature
extendedKeyUsage = codeSigning
[ leaf_ku_certsign ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyCertSign
extendedKeyUsage = codeSigning
[ leaf_no_eku ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
`,
);
fs.writeFileSync(path.join(pki, 'index.txt'), '');
const asn1Time = (sec) => new Date(sec * 1000).toISOString().replace(/[-:T]/g, '').replace(/\.\d{3}Z$/, 'Z');
const yesterday = asn1Time(nowSec - 86400);
const nextYear = asn1Time(nowSec + 365 * 86400);
const keygen = (name, kind) => {
  const opts = {
    p256: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'],
    p384: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'],
    rsa1024: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024'],
    rsa3072: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:3072'],
  }[kind];
  openssl('genpkey', ...opts, '-out', `${name}.key`);
};
// issue(name, subject, issuer|'self', extensions, start, end, md)
const issue = (name, subject, issuer, ext, start = yesterday, end = nextYear, md = 'sha256') => {
  openssl('req', '-new', '-config', 'ca.cnf', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`);
  const signer = issuer === 'self' ? ['-selfsign', '-keyfile', `${name}.key`] : ['-cert', `${issuer}.pem`, '-keyfile', `${issuer}.key`];
  openssl('ca', '-batch', '-config', 'ca.cnf', ...signer, '-in', `${name}.csr`, '-out', `${name}.pem`,
    '-extensions', ext, '-startdate', start, '-enddate', end, '-md', md, '-notext', '-preserveDN');
};
const CA_DN = '/C=US/ST=WA/O=kit-test';
const LEAF_DN = '/C=US/ST=WA/L=Seattle/O=kit-test';
keygen('root', 'p256'); issue('root', `${CA_DN}/CN=kit test root`, 'self', 'root', '20200101000000Z', '20450101000000Z');
keygen('rogue-root', 'p256'); issue('rogue-root', `${CA_DN}/CN=kit test root`, 'self', 'root', '20200101000000Z', '20450101000000Z');
keygen('inter', 'p256'); issue('inter', `${CA_DN}/CN=kit test intermediate`, 'root', 'inter', '20200101000000Z', '20450101000000Z');
keygen('inter-open', 'p256'); issue('inter-open', `${CA_DN}/CN=kit test open intermediate`, 'root', 'inter_open', '20200101000000Z', '20450101000000Z');
keygen('inter-notca', 'p256'); issue('inter-notca', `${CA_DN}/CN=kit test not a ca`, 'root', 'inter_notca', '20200101000000Z', '20450101000000Z');
keygen('inter-nocertsign', 'p256'); issue('inter-nocertsign', `${CA_DN}/CN=kit test no certsign`, 'root', 'inter_nocertsign', '20200101000000Z', '20450101000000Z');
// Below `inter` (pathlen 0): a CA that `inter` may not issue.
keygen('inter-deep', 'p256'); issue('inter-deep', `${CA_DN}/CN=kit test too deep`, 'inter', 'inter_open', '20200101000000Z', '20450101000000Z');

const LEAVES = {
  // name: [key kind, subject, issuer, extensions, start, end, md]
  leaf: ['p256', `${LEAF_DN}/CN=kit test signer`, 'inter', 'leaf'],
  'leaf-rsa3072': ['rsa3072', `${LEAF_DN}/CN=kit test signer rsa`, 'inter', 'leaf'],
  'leaf-p384': ['p384', `${LEAF_DN}/CN=kit test signer p384`, 'inter', 'leaf'],
  'leaf-no-eku': ['p256', `${LEAF_DN}/CN=kit test no eku`, 'inter', 'leaf_no_eku'],
  'leaf-expired': ['p256', `${LEAF_DN}/CN=kit test expired`, 'inter', 'leaf', '20210101000000Z', '20220101000000Z'],
  'leaf-notyet': ['p256', `${LEAF_DN}/CN=kit test future`, 'inter', 'leaf', '20400101000000Z', '20410101000000Z'],
  'leaf-serverauth': ['p256', `${LEAF_DN}/CN=kit test tls`, 'inter', 'leaf_serverauth'],
  'leaf-ocsp': ['p256', `${LEAF_DN}/CN=kit test ocsp`, 'inter', 'leaf_ocsp'],
  'leaf-ca': ['p256', `${LEAF_DN}/CN=kit test ca leaf`, 'inter', 'leaf_ca'],
  'leaf-ku-noncrit': ['p256', `${LEAF_DN}/CN=kit test ku noncrit`, 'inter', 'leaf_ku_noncrit'],
  'leaf-ku-certsign': ['p256', `${LEAF_DN}/CN=kit test ku certsign`, 'inter', 'leaf_ku_certsign'],
  'leaf-rsa1024': ['rsa1024', `${LEAF_DN}/CN=kit test rsa1024`, 'inter', 'leaf'],
  'leaf-sha1': ['p256', `${LEAF_DN}/CN=kit test sha1`, 'inter', 'leaf', yesterday, nextYear, 'sha1'],
  'leaf-evil-o': ['p256', '/C=US/ST=WA/L=Seattle/O=evil-corp/CN=kit test signer', 'inter', 'leaf'],
  'leaf-rogue': ['p256', `${LEAF_DN}/CN=kit test signer`, 'rogue-root', 'leaf'],
  'leaf-badinter': ['p256', `${LEAF_DN}/CN=kit test badinter`, 'inter-notca', 'leaf'],
  'leaf-nocertsign': ['p256', `${LEAF_DN}/CN=kit test under nocertsign`, 'inter-nocertsign', 'leaf'],
  'leaf-deep': ['p256', `${LEAF_DN}/CN=kit test deep`, 'inter-deep', 'leaf'],
};
const GOOD_LEAVES = ['leaf', 'leaf-rsa3072', 'leaf-p384', 'leaf-no-eku'];
for (const [name, [kind, subject, issuer, ext, start, end, md]] of Object.entries(LEAVES)) {
  if (onlyGood && !GOOD_LEAVES.includes(name)) continue;
  keygen(name, kind);
  issue(name, subject, issuer, ext, start, end, md);
}
const der = (name) => crypto.X509Certificate ? new crypto.X509Certificate(fs.readFileSync(path.join(pki, `${name}.pem`))).raw : null;
const key = (name) => crypto.createPrivateKey(fs.readFileSync(path.join(pki, `${name}.key`)));
const chainOf = (leaf) => {
  const issuer = LEAVES[leaf]?.[2] ?? 'inter';
  if (issuer === 'rogue-root') return [leaf, 'rogue-root'];
  if (issuer === 'inter-deep') return [leaf, 'inter-deep', 'inter', 'root'];
  return [leaf, issuer, 'root'];
};

// --- Signatures with node's crypto ---
const ALGS = {
  ES256: { hash: 'sha256', cose: -7 },
  ES384: { hash: 'sha384', cose: -35 },
  PS256: { hash: 'sha256', cose: -37 },
  PS384: { hash: 'sha384', cose: -38 },
};
const keyAlg = (leaf) => ({ p256: 'ES256', p384: 'ES384', rsa3072: 'PS384', rsa1024: 'PS256' })[LEAVES[leaf][0]];
const sign = (data, keyName, alg, { pkcs1 = false } = {}) => {
  const k = key(keyName);
  const hash = ALGS[alg].hash;
  if (k.asymmetricKeyType === 'ec') return crypto.sign(hash, data, { key: k, dsaEncoding: 'ieee-p1363' });
  const padding = pkcs1 ? crypto.constants.RSA_PKCS1_PADDING : crypto.constants.RSA_PKCS1_PSS_PADDING;
  return crypto.sign(hash, data, { key: k, padding, saltLength: crypto.constants.RSA_PSS_SALTLEN_DIGEST });
};
const b64u = (b) => Buffer.from(b).toString('base64url');
const payloadOf = (t) => Buffer.from(JSON.stringify({ targetArtifact: t }));

// o: {leaf, chain, alg, signAlg, signKey, target, protected(edit fn), header(extra), flip, pkcs1, expiry}
function jws(o = {}) {
  const leaf = o.leaf ?? 'leaf';
  const alg = o.alg ?? keyAlg(leaf);
  const prot = {
    alg,
    cty: 'application/vnd.cncf.notary.payload.v1+json',
    'io.cncf.notary.signingScheme': 'notary.x509',
    'io.cncf.notary.signingTime': rfc3339(nowSec),
    crit: ['io.cncf.notary.signingScheme'],
  };
  if (o.expiry !== undefined) {
    prot['io.cncf.notary.expiry'] = rfc3339(o.expiry);
    prot.crit.push('io.cncf.notary.expiry');
  }
  if (o.protected) o.protected(prot);
  const p = b64u(JSON.stringify(prot));
  const payload = b64u(payloadOf(o.target ?? target));
  const input = Buffer.from(`${p}.${payload}`);
  let sig;
  if (alg === 'none') sig = Buffer.alloc(0);
  else if (alg === 'HS256') sig = crypto.createHmac('sha256', 'secret').update(input).digest();
  else sig = sign(input, o.signKey ?? leaf, o.signAlg ?? alg, o);
  if (o.flip) sig[sig.length >> 1] ^= 1;
  const header = {
    x5c: (o.chain ?? chainOf(leaf)).map((c) => der(c).toString('base64')),
    'io.cncf.notary.signingAgent': 'kit-fixtures/1',
    ...(o.header ?? {}),
  };
  return Buffer.from(JSON.stringify({ payload, protected: p, header, signature: b64u(sig) }));
}

// o: as jws, plus {untagged, detached, unprotected(edit fn)}
function cose(o = {}) {
  const leaf = o.leaf ?? 'leaf';
  const alg = o.alg ?? keyAlg(leaf);
  const prot = new Map([
    [1, ALGS[alg].cose],
    [2, ['io.cncf.notary.signingScheme']],
    [3, 'application/vnd.cncf.notary.payload.v1+json'],
    ['io.cncf.notary.signingScheme', 'notary.x509'],
    ['io.cncf.notary.signingTime', new cbor.Tagged(1, nowSec)],
  ]);
  if (o.expiry !== undefined) {
    prot.set('io.cncf.notary.expiry', new cbor.Tagged(1, o.expiry));
    prot.get(2).push('io.cncf.notary.expiry');
  }
  if (o.protected) o.protected(prot);
  const protBytes = cbor.encode(prot);
  const payload = payloadOf(o.target ?? target);
  const tbs = cbor.encode(['Signature1', protBytes, Buffer.alloc(0), payload]);
  const sig = sign(tbs, o.signKey ?? leaf, o.signAlg ?? alg, o);
  if (o.flip) sig[sig.length >> 1] ^= 1;
  const unprot = new Map([
    [33, (o.chain ?? chainOf(leaf)).map(der)],
    ['io.cncf.notary.signingAgent', 'kit-fixtures/1'],
  ]);
  if (o.unprotected) o.unprotected(unprot);
  const body = [protBytes, unprot, o.detached ? null : payload, sig];
  return cbor.encode(o.untagged ? body : new cbor.Tagged(18, body));
}

const CASES = {
  // Good.
  'good-es256.jws': () => jws(),
  'good-ps384.jws': () => jws({ leaf: 'leaf-rsa3072' }),
  'good-es384.jws': () => jws({ leaf: 'leaf-p384' }),
  'good-no-eku.jws': () => jws({ leaf: 'leaf-no-eku' }),
  'good-expiry-later.jws': () => jws({ expiry: nowSec + 3600 }),
  'good-es256.cose': () => cose(),
  'good-ps384.cose': () => cose({ leaf: 'leaf-rsa3072' }),
  'evil-o.jws': () => jws({ leaf: 'leaf-evil-o' }),
  // Payload binding.
  'other-digest.jws': () => jws({ target: { ...target, digest: otherDigest } }),
  'other-size.jws': () => jws({ target: { ...target, size: target.size + 1 } }),
  'other-media-type.jws': () => jws({ target: { ...target, mediaType: 'application/vnd.oci.image.index.v1+json' } }),
  'other-digest.cose': () => cose({ target: { ...target, digest: otherDigest } }),
  // Signature.
  'other-key.jws': () => jws({ signKey: 'leaf-evil-o' }),
  'other-key.cose': () => cose({ signKey: 'leaf-evil-o' }),
  'flipped.cose': () => cose({ flip: true }),
  'pkcs1-as-pss.jws': () => jws({ leaf: 'leaf-rsa3072', pkcs1: true }),
  'es384-on-p256.jws': () => jws({ alg: 'ES384' }),
  'ps256-on-rsa3072.jws': () => jws({ leaf: 'leaf-rsa3072', alg: 'PS256' }),
  'alg-none.jws': () => jws({ alg: 'none' }),
  'alg-hs256.jws': () => jws({ alg: 'HS256' }),
  'rsa1024.jws': () => jws({ leaf: 'leaf-rsa1024' }),
  // Chain and trust.
  'untrusted-root.jws': () => jws({ leaf: 'leaf-rogue' }),
  'out-of-order.jws': () => jws({ chain: ['leaf', 'root', 'inter'] }),
  'extra-root.jws': () => jws({ chain: ['leaf', 'inter', 'root', 'rogue-root'] }),
  'extra-middle.jws': () => jws({ chain: ['leaf', 'leaf-evil-o', 'inter', 'root'] }),
  'no-intermediate.jws': () => jws({ chain: ['leaf', 'root'] }),
  'leaf-only.jws': () => jws({ chain: ['leaf'] }),
  'serverauth.jws': () => jws({ leaf: 'leaf-serverauth' }),
  'ocsp-eku.jws': () => jws({ leaf: 'leaf-ocsp' }),
  'leaf-ca.jws': () => jws({ leaf: 'leaf-ca' }),
  'ku-noncrit.jws': () => jws({ leaf: 'leaf-ku-noncrit' }),
  'ku-certsign.jws': () => jws({ leaf: 'leaf-ku-certsign' }),
  'ca-no-certsign.jws': () => jws({ leaf: 'leaf-nocertsign' }),
  'ca-not-ca.jws': () => jws({ leaf: 'leaf-badinter' }),
  'pathlen.jws': () => jws({ leaf: 'leaf-deep' }),
  'sha1.jws': () => jws({ leaf: 'leaf-sha1' }),
  'untrusted-root.cose': () => cose({ leaf: 'leaf-rogue' }),
  // Time.
  'expired.jws': () => jws({ leaf: 'leaf-expired' }),
  'not-yet-valid.jws': () => jws({ leaf: 'leaf-notyet' }),
  'expiry-past.jws': () => jws({ expiry: nowSec - 3600 }),
  'expiry-past.cose': () => cose({ expiry: nowSec - 3600 }),
  // Header rules.
  'crit-unknown.jws': () => jws({ protected: (p) => { p['x.unknown'] = '1'; p.crit.push('x.unknown'); } }),
  'crit-unknown.cose': () => cose({ protected: (p) => { p.set('x.unknown', 1); p.get(2).push('x.unknown'); } }),
  'no-signing-time.jws': () => jws({ protected: (p) => { delete p['io.cncf.notary.signingTime']; } }),
  'no-signing-time.cose': () => cose({ protected: (p) => { p.delete('io.cncf.notary.signingTime'); } }),
  'crit-missing-scheme.jws': () => jws({ protected: (p) => { p.crit = ['io.cncf.notary.signingTime']; } }),
  'expiry-not-crit.jws': () => jws({ protected: (p) => { p['io.cncf.notary.expiry'] = rfc3339(nowSec + 3600); } }),
  'wrong-cty.jws': () => jws({ protected: (p) => { p.cty = 'application/json'; } }),
  'signing-authority.jws': () => jws({
    protected: (p) => {
      p['io.cncf.notary.signingScheme'] = 'notary.x509.signingAuthority';
      delete p['io.cncf.notary.signingTime'];
      p['io.cncf.notary.authenticSigningTime'] = rfc3339(nowSec);
      p.crit.push('io.cncf.notary.authenticSigningTime');
    },
  }),
  'duplicate-alg.jws': () => {
    // Re-sign a protected header with a duplicated key: JSON.stringify cannot write one.
    const env = JSON.parse(jws());
    const text = Buffer.from(env.protected, 'base64url').toString().replace('{"alg":"ES256"', '{"alg":"ES256","alg":"ES256"');
    env.protected = b64u(text);
    env.signature = b64u(sign(Buffer.from(`${env.protected}.${env.payload}`), 'leaf', 'ES256'));
    return Buffer.from(JSON.stringify(env));
  },
  // Countersignatures and COSE framing.
  'timestamp.jws': () => jws({ header: { 'io.cncf.notary.timestampSignature': crypto.randomBytes(64).toString('base64') } }),
  'timestamp.cose': () => cose({ unprotected: (u) => u.set('io.cncf.notary.timestampSignature', crypto.randomBytes(64)) }),
  'untagged.cose': () => cose({ untagged: true }),
  'detached.cose': () => cose({ detached: true }),
};
for (const [name, make] of Object.entries(CASES)) {
  if (onlyGood && !name.startsWith('good-')) continue;
  fs.writeFileSync(path.join(out, name), make());
}

// --- A cosign keyed signature of the same manifest (cosign's simple-signing payload) ---
if (!onlyGood) {
  openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'cosign.key');
  openssl('pkey', '-in', 'cosign.key', '-pubout', '-out', 'cosign.pub');
  const cosignPayload = Buffer.from(JSON.stringify({
    critical: {
      identity: { 'docker-reference': 'docker.io/linuxkit/kernel' },
      image: { 'docker-manifest-digest': target.digest },
      type: 'cosign container image signature',
    },
    optional: null,
  }));
  fs.writeFileSync(path.join(out, 'cosign-payload.json'), cosignPayload);
  fs.writeFileSync(path.join(out, 'cosign-signature.b64'), crypto.sign('sha256', cosignPayload, key('cosign')).toString('base64'));
  fs.copyFileSync(path.join(pki, 'cosign.pub'), path.join(out, 'cosign.pub'));
}

fs.writeFileSync(path.join(out, 'meta.json'), JSON.stringify({ ...target, otherDigest, now: nowSec }));
