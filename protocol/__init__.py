"""What the resident's wallet and the service agree on, byte for byte, with nothing of the server in it.

Both sides import this package: the wallet to build and sign what it sends and to verify what it
gets back, the service to check the same bytes. It holds no web framework, no database and no
server settings.

* ``protocol.payment_uri`` — EIP-681 payment URIs (QR codes).
"""
