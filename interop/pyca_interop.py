#!/usr/bin/env python3
"""Interoperability of the `qsafe` CLI with pyca/cryptography (an independent implementation).

Both directions for ML-KEM-768/1024 (encapsulate on one side, decapsulate on the other),
ML-DSA-65/87 with context strings, DHKEM(X25519) (RFC 9180 §4.1, computed here from pyca's
X25519 and HKDF), ECDSA P-256/P-384 and Ed25519 — always exchanging PEM key files, so the
PKCS #8 / SPKI encodings are checked too. The five hybrid KEMs are recomputed from pyca's
ML-KEM and ECDH plus hashlib, following the combiners in docs/combiners.md, and two composite
ML-DSA algorithms from pyca's ML-DSA, Ed25519 and ECDSA (draft-ietf-lamps-pq-composite-sigs).

Usage: pyca_interop.py /path/to/qsafe
Prints one line per check and ends with "N passed, M failed"; exits non-zero on any failure.
"""

import hashlib
import os
import subprocess
import sys
import tempfile

from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, mlkem, x25519

QSAFE = sys.argv[1] if len(sys.argv) > 1 else "qsafe"
WORK = tempfile.mkdtemp(prefix="qsafe-interop-")
RESULTS = {"passed": 0, "failed": 0}


def path(name):
    return os.path.join(WORK, name)


def qsafe(*args, expect=0):
    proc = subprocess.run([QSAFE, *args], capture_output=True)
    if proc.returncode != expect:
        raise AssertionError(f"qsafe {' '.join(args)} exited {proc.returncode}: {proc.stderr.decode()}")
    return proc.stdout


def check(name, fn):
    try:
        fn()
        RESULTS["passed"] += 1
        print(f"ok   {name}")
    except Exception as exc:  # noqa: BLE001 - report every failure and go on
        RESULTS["failed"] += 1
        print(f"FAIL {name}: {exc}")


def write(name, data):
    with open(path(name), "wb") as f:
        f.write(data)
    return path(name)


def read(name):
    with open(path(name), "rb") as f:
        return f.read()


def pem_private(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def pem_public(key):
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_private(name):
    return serialization.load_pem_private_key(read(name), password=None)


def load_public(name):
    return serialization.load_pem_public_key(read(name))


# ---- ML-KEM ----------------------------------------------------------------------------------

MLKEM = {"ml-kem-768": mlkem.MLKEM768PrivateKey, "ml-kem-1024": mlkem.MLKEM1024PrivateKey}


def mlkem_pyca_encaps_qsafe_decaps(alg):
    qsafe("key", "gen", "--alg", alg, "-o", path(f"{alg}.key"), "--force")
    pk = load_public(f"{alg}.key.pub")
    ss, ct = pk.encapsulate()
    write(f"{alg}.ct", ct)
    qsafe("kem", "decap", "--key", path(f"{alg}.key"), "--ciphertext", path(f"{alg}.ct"), "--secret", path(f"{alg}.ss"), "--force")
    assert read(f"{alg}.ss") == ss, "shared secrets differ"


def mlkem_qsafe_encaps_pyca_decaps(alg):
    sk = MLKEM[alg].generate()
    write(f"{alg}.py.key", pem_private(sk))
    write(f"{alg}.py.pub", pem_public(sk.public_key()))
    qsafe("kem", "encap", "--to", path(f"{alg}.py.pub"), "--ciphertext", path(f"{alg}.ct2"), "--secret", path(f"{alg}.ss2"), "--force")
    assert sk.decapsulate(read(f"{alg}.ct2")) == read(f"{alg}.ss2"), "shared secrets differ"
    # and qsafe reads pyca's private key file: derives the same public key
    out = qsafe("key", "pub", path(f"{alg}.py.key"))
    assert serialization.load_pem_public_key(out).public_bytes_raw() == sk.public_key().public_bytes_raw()


# ---- ML-DSA ----------------------------------------------------------------------------------

MLDSA = {"ml-dsa-65": mldsa.MLDSA65PrivateKey, "ml-dsa-87": mldsa.MLDSA87PrivateKey}
MESSAGE = b"model.safetensors sha256 manifest"
CONTEXT = b"qsafe-interop"


def mldsa_qsafe_signs_pyca_verifies(alg):
    qsafe("key", "gen", "--alg", alg, "-o", path(f"{alg}.key"), "--force")
    write("msg", MESSAGE)
    qsafe("sign", "--key", path(f"{alg}.key"), "--context", CONTEXT.hex(), "-o", path(f"{alg}.sig"), "--force", path("msg"))
    load_public(f"{alg}.key.pub").verify(read(f"{alg}.sig"), MESSAGE, CONTEXT)
    # pyca reads qsafe's private key (seed form) and gets the same public key
    assert load_private(f"{alg}.key").public_key().public_bytes_raw() == load_public(f"{alg}.key.pub").public_bytes_raw()


def mldsa_pyca_signs_qsafe_verifies(alg):
    sk = MLDSA[alg].generate()
    write(f"{alg}.py.pub", pem_public(sk.public_key()))
    write(f"{alg}.py.sig", sk.sign(MESSAGE, CONTEXT))
    write("msg", MESSAGE)
    qsafe("verify", "--key", path(f"{alg}.py.pub"), "--context", CONTEXT.hex(), "--signature", path(f"{alg}.py.sig"), path("msg"))
    qsafe("verify", "--key", path(f"{alg}.py.pub"), "--context", "00", "--signature", path(f"{alg}.py.sig"), path("msg"), expect=3)


# ---- DHKEM(X25519) ---------------------------------------------------------------------------

def hkdf_extract(salt, ikm):
    h = hmac.HMAC(salt or b"\0" * 32, hashes.SHA256())
    h.update(ikm)
    return h.finalize()


def hkdf_expand(prk, info, length):
    out, t, i = b"", b"", 1
    while len(out) < length:
        h = hmac.HMAC(prk, hashes.SHA256())
        h.update(t + info + bytes([i]))
        t = h.finalize()
        out += t
        i += 1
    return out[:length]


def dhkem_x25519_secret(dh, enc, pk_r):
    suite = b"KEM\x00\x20"
    prk = hkdf_extract(b"", b"HPKE-v1" + suite + b"eae_prk" + dh)
    info = (32).to_bytes(2, "big") + b"HPKE-v1" + suite + b"shared_secret" + enc + pk_r
    return hkdf_expand(prk, info, 32)


def x25519_qsafe_encaps_pyca_decaps():
    sk = x25519.X25519PrivateKey.generate()
    write("x.py.key", pem_private(sk))
    write("x.py.pub", pem_public(sk.public_key()))
    qsafe("kem", "encap", "--to", path("x.py.pub"), "--ciphertext", path("x.ct"), "--secret", path("x.ss"), "--force")
    enc = read("x.ct")
    dh = sk.exchange(x25519.X25519PublicKey.from_public_bytes(enc))
    assert dhkem_x25519_secret(dh, enc, sk.public_key().public_bytes_raw()) == read("x.ss")


def x25519_pyca_encaps_qsafe_decaps():
    qsafe("key", "gen", "--alg", "x25519", "-o", path("x.key"), "--force")
    pk_r = load_public("x.key.pub")
    eph = x25519.X25519PrivateKey.generate()
    enc = eph.public_key().public_bytes_raw()
    ss = dhkem_x25519_secret(eph.exchange(pk_r), enc, pk_r.public_bytes_raw())
    write("x.ct2", enc)
    qsafe("kem", "decap", "--key", path("x.key"), "--ciphertext", path("x.ct2"), "--secret", path("x.ss2"), "--force")
    assert read("x.ss2") == ss
    assert load_private("x.key").public_key().public_bytes_raw() == pk_r.public_bytes_raw()


# ---- Hybrid KEMs, recomputed from pyca's components -------------------------------------

MLKEM_SIZES = {768: (1184, 1088), 1024: (1568, 1568)}
HYBRIDS = {
    # id: (ML-KEM level, classical curve, combiner)
    "x-wing": (768, "x25519", ("sha3", b"\\.//^\\")),
    "mlkem768-p256": (768, "p256", ("sha3", b"MLKEM768-P256")),
    "mlkem1024-p384": (1024, "p384", ("sha3", b"MLKEM1024-P384")),
    "x25519-mlkem768": (768, "x25519", ("concat", None)),
    "x25519-mlkem1024-hkdf-sha384": (1024, "x25519", ("hkdf", b"QSAFE-X25519-MLKEM1024-HKDF-SHA384-v1")),
}
CURVES = {"p256": ec.SECP256R1(), "p384": ec.SECP384R1()}


def combine(kind, label, ss_m, ss_t, ct_m, ct_t, pk_t):
    if kind == "sha3":  # X-Wing §5.3 / composite-KEM §3.3
        return hashlib.sha3_256(ss_m + ss_t + ct_t + pk_t + label).digest()
    if kind == "concat":  # TLS X25519MLKEM768
        return ss_m + ss_t
    th = hashlib.sha384(ct_m + ct_t + pk_t).digest()  # docs/combiners.md §1
    prk = hmac.HMAC(label, hashes.SHA384())
    prk.update(ss_m + ss_t)
    prk = prk.finalize()
    out, t, i = b"", b"", 1
    while len(out) < 64:
        h = hmac.HMAC(prk, hashes.SHA384())
        h.update(t + label + th + bytes([i]))
        t = h.finalize()
        out += t
        i += 1
    return out[:64]


def hybrid_private(alg, raw):
    """pyca keys from qsafe's raw private key (X-Wing seed, or mlkemSeed ‖ classical key)."""
    level, curve, _ = HYBRIDS[alg]
    if alg == "x-wing":
        expanded = hashlib.shake_256(raw).digest(96)
        seed, trad = expanded[:64], expanded[64:]
    else:
        seed, trad = raw[:64], raw[64:]
    mlkem_sk = (mlkem.MLKEM768PrivateKey if level == 768 else mlkem.MLKEM1024PrivateKey).from_seed_bytes(seed)
    if curve == "x25519":
        trad_sk = x25519.X25519PrivateKey.from_private_bytes(trad)
    else:
        trad_sk = serialization.load_der_private_key(trad, password=None)
    return mlkem_sk, trad_sk


def trad_public_bytes(curve, key):
    if curve == "x25519":
        return key.public_bytes_raw()
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def trad_exchange(curve, sk, peer):
    if curve == "x25519":
        return sk.exchange(x25519.X25519PublicKey.from_public_bytes(peer))
    return sk.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(CURVES[curve], peer))


def hybrid_qsafe_encaps_pyca_decaps(alg):
    level, curve, (kind, label) = HYBRIDS[alg]
    qsafe("key", "gen", "--alg", alg, "-o", path(f"{alg}.key"), "--force")
    qsafe("key", "export", path(f"{alg}.key"), "--format", "raw", "-o", path(f"{alg}.raw"), "--force")
    qsafe("kem", "encap", "--to", path(f"{alg}.key.pub"), "--ciphertext", path(f"{alg}.ct"), "--secret", path(f"{alg}.ss"), "--force")
    mlkem_sk, trad_sk = hybrid_private(alg, read(f"{alg}.raw"))
    ct = read(f"{alg}.ct")
    ct_m, ct_t = ct[: MLKEM_SIZES[level][1]], ct[MLKEM_SIZES[level][1]:]
    pk_t = trad_public_bytes(curve, trad_sk.public_key())
    ss = combine(kind, label, mlkem_sk.decapsulate(ct_m), trad_exchange(curve, trad_sk, ct_t), ct_m, ct_t, pk_t)
    assert ss == read(f"{alg}.ss"), "shared secrets differ"


def hybrid_pyca_encaps_qsafe_decaps(alg):
    level, curve, (kind, label) = HYBRIDS[alg]
    qsafe("key", "gen", "--alg", alg, "-o", path(f"{alg}.key"), "--force")
    qsafe("key", "export", path(f"{alg}.key.pub"), "--format", "raw", "-o", path(f"{alg}.pub.raw"), "--force")
    pk = read(f"{alg}.pub.raw")
    pk_m, pk_t = pk[: MLKEM_SIZES[level][0]], pk[MLKEM_SIZES[level][0]:]
    mlkem_pk = (mlkem.MLKEM768PublicKey if level == 768 else mlkem.MLKEM1024PublicKey).from_public_bytes(pk_m)
    ss_m, ct_m = mlkem_pk.encapsulate()
    eph = x25519.X25519PrivateKey.generate() if curve == "x25519" else ec.generate_private_key(CURVES[curve])
    ct_t = trad_public_bytes(curve, eph.public_key())
    ss = combine(kind, label, ss_m, trad_exchange(curve, eph, pk_t), ct_m, ct_t, pk_t)
    write(f"{alg}.ct2", ct_m + ct_t)
    qsafe("kem", "decap", "--key", path(f"{alg}.key"), "--ciphertext", path(f"{alg}.ct2"), "--secret", path(f"{alg}.ss2"), "--force")
    assert read(f"{alg}.ss2") == ss, "shared secrets differ"


# ---- Composite ML-DSA, recomputed from pyca's components -----------------------------------

COMPOSITES = {
    # id: (ML-DSA private class, public class, public key length, classical, label)
    "mldsa65-ed25519-sha512": (
        mldsa.MLDSA65PrivateKey, mldsa.MLDSA65PublicKey, 1952, "ed25519", b"COMPSIG-MLDSA65-Ed25519-SHA512"),
    "mldsa87-ecdsa-p384-sha512": (
        mldsa.MLDSA87PrivateKey, mldsa.MLDSA87PublicKey, 2592, "ecdsa-p384-sha384", b"COMPSIG-MLDSA87-ECDSA-P384-SHA512"),
}
MLDSA_SIG_LEN = {1952: 3309, 2592: 4627}


def message_representative(label, ctx, msg):
    """draft-ietf-lamps-pq-composite-sigs §2.2 with PH = SHA-512."""
    return b"CompositeAlgorithmSignatures2025" + label + bytes([len(ctx)]) + ctx + hashlib.sha512(msg).digest()


def composite_qsafe_signs_pyca_verifies(alg):
    _, pub_cls, pk_len, trad, label = COMPOSITES[alg]
    qsafe("key", "gen", "--alg", alg, "-o", path(f"{alg}.key"), "--force")
    qsafe("key", "export", path(f"{alg}.key.pub"), "--format", "raw", "-o", path(f"{alg}.pub.raw"), "--force")
    write("msg", MESSAGE)
    qsafe("sign", "--key", path(f"{alg}.key"), "--context", CONTEXT.hex(), "-o", path(f"{alg}.sig"), "--force", path("msg"))
    pk, sig = read(f"{alg}.pub.raw"), read(f"{alg}.sig")
    m_prime = message_representative(label, CONTEXT, MESSAGE)
    sig_m, sig_t = sig[: MLDSA_SIG_LEN[pk_len]], sig[MLDSA_SIG_LEN[pk_len]:]
    pub_cls.from_public_bytes(pk[:pk_len]).verify(sig_m, m_prime, label)
    if trad == "ed25519":
        ed25519.Ed25519PublicKey.from_public_bytes(pk[pk_len:]).verify(sig_t, m_prime)
    else:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP384R1(), pk[pk_len:]).verify(sig_t, m_prime, ec.ECDSA(hashes.SHA384()))


def composite_pyca_signs_qsafe_verifies(alg):
    cls, _, _, trad, label = COMPOSITES[alg]
    mldsa_sk = cls.generate()
    if trad == "ed25519":
        trad_sk = ed25519.Ed25519PrivateKey.generate()
        trad_pk = trad_sk.public_key().public_bytes_raw()
    else:
        trad_sk = ec.generate_private_key(ec.SECP384R1())
        trad_pk = trad_public_bytes("p384", trad_sk.public_key())
    write(f"{alg}.py.pub.raw", mldsa_sk.public_key().public_bytes_raw() + trad_pk)
    qsafe("key", "import", "--alg", alg, "--format", "raw", path(f"{alg}.py.pub.raw"), "-o", path(f"{alg}.py.pub"), "--force")
    m_prime = message_representative(label, CONTEXT, MESSAGE)
    sig_t = trad_sk.sign(m_prime) if trad == "ed25519" else trad_sk.sign(m_prime, ec.ECDSA(hashes.SHA384()))
    write(f"{alg}.py.sig", mldsa_sk.sign(m_prime, label) + sig_t)
    write("msg", MESSAGE)
    qsafe("verify", "--key", path(f"{alg}.py.pub"), "--context", CONTEXT.hex(), "--signature", path(f"{alg}.py.sig"), path("msg"))
    # a signature whose ML-DSA half used the empty context must fail (label binding)
    write(f"{alg}.py.bad", mldsa_sk.sign(m_prime) + sig_t)
    qsafe("verify", "--key", path(f"{alg}.py.pub"), "--context", CONTEXT.hex(), "--signature", path(f"{alg}.py.bad"), path("msg"), expect=3)


# ---- ECDSA and Ed25519 -----------------------------------------------------------------------

ECDSA = {"ecdsa-p256-sha256": (ec.SECP256R1(), hashes.SHA256()), "ecdsa-p384-sha384": (ec.SECP384R1(), hashes.SHA384())}


def classical_qsafe_signs_pyca_verifies(alg):
    qsafe("key", "gen", "--alg", alg, "-o", path(f"{alg}.key"), "--force")
    write("msg", MESSAGE)
    qsafe("sign", "--key", path(f"{alg}.key"), "-o", path(f"{alg}.sig"), "--force", path("msg"))
    pk = load_public(f"{alg}.key.pub")
    if alg == "ed25519":
        pk.verify(read(f"{alg}.sig"), MESSAGE)
    else:
        pk.verify(read(f"{alg}.sig"), MESSAGE, ec.ECDSA(ECDSA[alg][1]))
    load_private(f"{alg}.key")  # pyca parses qsafe's PKCS #8


def classical_pyca_signs_qsafe_verifies(alg):
    if alg == "ed25519":
        sk = ed25519.Ed25519PrivateKey.generate()
        sig = sk.sign(MESSAGE)
    else:
        sk = ec.generate_private_key(ECDSA[alg][0])
        sig = sk.sign(MESSAGE, ec.ECDSA(ECDSA[alg][1]))
    write(f"{alg}.py.key", pem_private(sk))
    write(f"{alg}.py.pub", pem_public(sk.public_key()))
    write(f"{alg}.py.sig", sig)
    write("msg", MESSAGE)
    qsafe("verify", "--key", path(f"{alg}.py.pub"), "--signature", path(f"{alg}.py.sig"), path("msg"))
    # qsafe signs with pyca's private key file, pyca verifies
    qsafe("sign", "--key", path(f"{alg}.py.key"), "-o", path(f"{alg}.py.sig2"), "--force", path("msg"))
    if alg == "ed25519":
        sk.public_key().verify(read(f"{alg}.py.sig2"), MESSAGE)
    else:
        sk.public_key().verify(read(f"{alg}.py.sig2"), MESSAGE, ec.ECDSA(ECDSA[alg][1]))


def main():
    for alg in MLKEM:
        check(f"{alg}: pyca encapsulates, qsafe decapsulates", lambda a=alg: mlkem_pyca_encaps_qsafe_decaps(a))
        check(f"{alg}: qsafe encapsulates, pyca decapsulates", lambda a=alg: mlkem_qsafe_encaps_pyca_decaps(a))
    for alg in MLDSA:
        check(f"{alg}: qsafe signs (context), pyca verifies", lambda a=alg: mldsa_qsafe_signs_pyca_verifies(a))
        check(f"{alg}: pyca signs (context), qsafe verifies", lambda a=alg: mldsa_pyca_signs_qsafe_verifies(a))
    check("x25519 DHKEM: qsafe encapsulates, pyca decapsulates", x25519_qsafe_encaps_pyca_decaps)
    check("x25519 DHKEM: pyca encapsulates, qsafe decapsulates", x25519_pyca_encaps_qsafe_decaps)
    for alg in HYBRIDS:
        check(f"{alg}: qsafe encapsulates, pyca components + combiner decapsulate", lambda a=alg: hybrid_qsafe_encaps_pyca_decaps(a))
        check(f"{alg}: pyca components + combiner encapsulate, qsafe decapsulates", lambda a=alg: hybrid_pyca_encaps_qsafe_decaps(a))
    for alg in COMPOSITES:
        check(f"{alg}: qsafe signs, pyca verifies both halves of M'", lambda a=alg: composite_qsafe_signs_pyca_verifies(a))
        check(f"{alg}: pyca signs both halves of M', qsafe verifies", lambda a=alg: composite_pyca_signs_qsafe_verifies(a))
    for alg in ["ecdsa-p256-sha256", "ecdsa-p384-sha384", "ed25519"]:
        check(f"{alg}: qsafe signs, pyca verifies", lambda a=alg: classical_qsafe_signs_pyca_verifies(a))
        check(f"{alg}: pyca signs, qsafe verifies and signs with pyca's key", lambda a=alg: classical_pyca_signs_qsafe_verifies(a))
    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    return 1 if RESULTS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
