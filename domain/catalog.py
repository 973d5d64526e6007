"""The product catalog of the server certificate portal (S-2): what a customer can order."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Product:
    code: str
    name_ja: str
    name_en: str
    level: str  # ov | ev
    validity_days: int  # what the product promises; the PKI core caps it at the BR maximum
    reissue_limit: int | None  # None = unlimited within the reissue window; EV: once

    def name(self, lang: str) -> str:
        return self.name_ja if lang == "ja" else self.name_en


CATALOG: dict[str, Product] = {
    p.code: p
    for p in (
        Product("ov", "SSLサーバ証明書（企業認証）", "SSL server certificate (OV)", "ov", 397, None),
        Product("ev", "EV SSLサーバ証明書", "EV SSL server certificate", "ev", 397, 1),
    )
}
