#!/usr/bin/env python3
"""Interoperability of the `qsafe` CLI with pyca/cryptography (an independent implementation).

Both directions for ML-KEM-768/1024 (encapsulate on one side, decapsulate on the other),
ML-DSA-65/87 with context strings, DHKEM(X25519) (RFC 9180 §4.1, computed here from pyca's
X25519 and HKDF), ECDSA P-256/P-384 and Ed25519 — always exchanging PEM key files, so the
PKCS #8 / SPKI encodings are checked too.

Usage: pyca_interop.py /path/to/qsafe
Prints one line per check and ends with "N passed, M failed"; exits non-zero on any failure.
"""

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
    for alg in ["ecdsa-p256-sha256", "ecdsa-p384-sha384", "ed25519"]:
        check(f"{alg}: qsafe signs, pyca verifies", lambda a=alg: classical_qsafe_signs_pyca_verifies(a))
        check(f"{alg}: pyca signs, qsafe verifies and signs with pyca's key", lambda a=alg: classical_pyca_signs_qsafe_verifies(a))
    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    return 1 if RESULTS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
