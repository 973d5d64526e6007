"""Pure PKI core: CSR vetting, validity caps, CA hierarchy, certificate profiles, pre-issuance lint, CRLs.

Modules: errors, keys, names, csr, validity, extensions, lint, hierarchy, profiles, crl.
Nothing here touches Temporal, HTTP or the database.
"""
