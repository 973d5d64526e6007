"""Pure PKI core: CSR vetting, validity caps, CA hierarchy, certificate profiles, pre-issuance lint, CRLs, OCSP.

Modules: errors, keys, names, csr, validity, extensions, lint, hierarchy, profiles, crl, ocsp.
Nothing here touches Temporal, HTTP or the database.
"""
