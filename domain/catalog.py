"""The product catalog of the server certificate portal (S-2): what a customer can order."""

from dataclasses import dataclass

from domain.contract_life import AUTO, FIXED
from domain.messages import translator


@dataclass(frozen=True)
class Product:
    code: str  # its name is in the message catalogue as ``product_<code>``
    level: str  # ov | ev
    validity_days: int  # what the product promises; the PKI core caps it at the BR maximum
    reissue_limit: int | None  # None = unlimited within the reissue window; EV: once
    contract_type: str = FIXED  # 期間固定タイプ, or 自動契約更新タイプ (AUTO)
    term_months: int = 12  # one term of the contract; certificates inside it are replaced

    def name(self, lang: str) -> str:
        """The product's name in Japanese for ``ja``, in English otherwise."""
        return translator("ja" if lang == "ja" else "en")(f"product_{self.code}")


CATALOG: dict[str, Product] = {
    p.code: p
    for p in (
        Product("ov", "ov", 397, None),
        Product("ev", "ev", 397, 1),
        Product("ov_auto", "ov", 397, None, AUTO),
        Product("ev_auto", "ev", 397, 1, AUTO),
    )
}
