"""The certificates of the TLS test servers, made once by scripts/test-servers.sh.

DIR/ca.pem          the CA the servers' certificates chain to
DIR/other-ca.pem    a CA nothing here was issued by (a "wrong CA")
DIR/server.pem/key  CN=localhost, SAN DNS:localhost only (so 127.0.0.1 is a wrong name)
DIR/expired.pem/key the same names, valid for one day in 2020
DIR/client.pem/key  CN=onramp_cert, for mutual TLS (PostgreSQL's `cert` maps CN to the user)
DIR/stranger.pem/key CN=onramp_cert, issued by the other CA
"""

import datetime
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
now = datetime.datetime.now(datetime.timezone.utc)


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "onramp tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def write(stem, key, cert):
    (out / f"{stem}.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (out / f"{stem}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def ca(stem, cn):
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(name(cn))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(key, hashes.SHA256()))
    write(stem, key, cert)
    return key, cert


def leaf(stem, cn, issuer, not_before, not_after, server):
    issuer_key, issuer_cert = issuer
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(issuer_cert.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(not_before).not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
    if server:
        builder = (builder.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False))
    else:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    write(stem, key, builder.sign(issuer_key, hashes.SHA256()))


main = ca("ca", "onramp test CA")
other = ca("other-ca", "onramp other CA")
later = now + datetime.timedelta(days=3650)
leaf("server", "localhost", main, now - datetime.timedelta(days=1), later, True)
leaf("expired", "localhost", main, datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc),
     datetime.datetime(2020, 1, 2, tzinfo=datetime.timezone.utc), True)
leaf("client", "onramp_cert", main, now - datetime.timedelta(days=1), later, False)
leaf("stranger", "onramp_cert", other, now - datetime.timedelta(days=1), later, False)
