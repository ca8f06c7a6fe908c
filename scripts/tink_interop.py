#!/usr/bin/env python3
"""Encrypt or decrypt a stream with Google Tink's AES-GCM-HKDF streaming AEAD.

Used by callvault's interoperability tests to prove that recordings stay readable with an
independent, widely used library given only the data key and the associated data (the
42-byte callvault envelope header). Parameters match callvault format v1: AES-256 derived
keys, HKDF-SHA-256, 65,536-byte ciphertext segments.

    tink_interop.py decrypt KEY_HEX AAD_FILE CIPHERTEXT_FILE OUT_FILE
    tink_interop.py encrypt KEY_HEX AAD_FILE PLAINTEXT_FILE OUT_FILE
"""
import io
import sys

import tink
from tink import cleartext_keyset_handle, streaming_aead
from tink.proto import aes_gcm_hkdf_streaming_pb2, common_pb2, tink_pb2

SEGMENT_SIZE = 65536
TYPE_URL = "type.googleapis.com/google.crypto.tink.AesGcmHkdfStreamingKey"


def primitive(key: bytes) -> streaming_aead.StreamingAead:
    params = aes_gcm_hkdf_streaming_pb2.AesGcmHkdfStreamingParams(
        ciphertext_segment_size=SEGMENT_SIZE,
        derived_key_size=32,
        hkdf_hash_type=common_pb2.SHA256,
    )
    key_proto = aes_gcm_hkdf_streaming_pb2.AesGcmHkdfStreamingKey(
        version=0, params=params, key_value=key
    )
    keyset = tink_pb2.Keyset(primary_key_id=1)
    entry = keyset.key.add()
    entry.key_data.type_url = TYPE_URL
    entry.key_data.value = key_proto.SerializeToString()
    entry.key_data.key_material_type = tink_pb2.KeyData.SYMMETRIC
    entry.status = tink_pb2.ENABLED
    entry.key_id = 1
    entry.output_prefix_type = tink_pb2.RAW
    handle = cleartext_keyset_handle.from_keyset(keyset)
    return handle.primitive(streaming_aead.StreamingAead)


def main(argv: list[str]) -> int:
    if len(argv) != 5 or argv[0] not in ("encrypt", "decrypt"):
        print(__doc__, file=sys.stderr)
        return 2
    op, key_hex, aad_file, in_file, out_file = argv
    streaming_aead.register()
    prim = primitive(bytes.fromhex(key_hex))
    aad = open(aad_file, "rb").read()
    data = open(in_file, "rb").read()
    if op == "decrypt":
        with prim.new_decrypting_stream(io.BytesIO(data), aad) as dec:
            out = dec.read()
        with open(out_file, "wb") as f:
            f.write(out)
    else:
        # Tink closes the destination when the encrypting stream closes.
        dest = open(out_file, "wb")
        with prim.new_encrypting_stream(dest, aad) as enc:
            enc.write(data)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except tink.TinkError as e:
        print(f"tink error: {e}", file=sys.stderr)
        sys.exit(1)
