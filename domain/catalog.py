"""The product catalog of the server certificate portal (S-2): what a customer can order."""

from dataclasses import dataclass

from domain.messages import translator


@dataclass(frozen=True)
class Product:
    code: str  # its name is in the message catalogue as ``product_<code>``
    level: str  # ov | ev
    validity_days: int  # what the product promises; the PKI core caps it at the BR maximum
    reissue_limit: int | None  # None = unlimited within the reissue window; EV: once

    def name(self, lang: str) -> str:
        """The product's name in Japanese for ``ja``, in English otherwise."""
        return translator("ja" if lang == "ja" else "en")(f"product_{self.code}")


CATALOG: dict[str, Product] = {
    p.code: p
    for p in (
        Product("ov", "ov", 397, None),
        Product("ev", "ev", 397, 1),
    )
}
