"""The certificate authority: CA keys, signing, CRL building. Used by the worker (and the
operator's CLI) only; the web process never imports it and never holds a CA's private key."""
