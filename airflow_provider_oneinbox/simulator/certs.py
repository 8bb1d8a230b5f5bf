"""A throwaway CA and server certificate for 127.0.0.1 / localhost, issued by ``trustme``."""

from __future__ import annotations

import os
from dataclasses import dataclass

import trustme


@dataclass(frozen=True)
class TlsFiles:
    """
    PEM files of one simulator run.

    :param ca_cert: The self-signed CA certificate (give it to clients as ``verify=``).
    :param cert: The server certificate, signed by the CA.
    :param key: The server's private key.
    """

    ca_cert: str
    cert: str
    key: str


def generate_tls_files(directory: str, host: str = "127.0.0.1") -> TlsFiles:
    """
    Write a CA and a server certificate (SAN: localhost, 127.0.0.1, ::1 and ``host``) into ``directory``.

    A separate CA (rather than one self-signed leaf) passes strict X.509 checks in every client.

    :param directory: An existing directory, private to this run; the files are written there.
    :param host: The interface the simulator listens on, added to the certificate's names.
    """
    ca = trustme.CA(organization_name="OneInbox simulator")
    identities = dict.fromkeys(["localhost", "127.0.0.1", "::1", host])
    leaf = ca.issue_cert(*identities, common_name="localhost")
    files = TlsFiles(
        ca_cert=os.path.join(directory, "ca.pem"),
        cert=os.path.join(directory, "server.pem"),
        key=os.path.join(directory, "server-key.pem"),
    )
    ca.cert_pem.write_to_path(files.ca_cert)
    with open(files.cert, "wb") as fh:
        fh.write(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    # Created private: the key is never readable by others, not even for a moment.
    fd = os.open(files.key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(leaf.private_key_pem.bytes())
    return files
