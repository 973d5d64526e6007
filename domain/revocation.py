"""The manual's revocation reasons (S-6) and what they mean in RFC 5280 and the BRs."""

from datetime import timedelta

# 申請理由 -> CRLReason (BR 7.2.2: the reasons a subscriber may give).
REASONS = {
    "content_change": "affiliationChanged",  # 記載内容の変更
    "switching": "superseded",  # 証明書の切り替え
    "cessation": "cessationOfOperation",  # 利用の停止
    "key_compromise": "keyCompromise",  # 秘密鍵の危殆化
}


def confirmation_deadline(reason: str) -> timedelta:
    """BR 4.9.1.1: revoke within 24 hours for key compromise, within 5 days otherwise."""
    return timedelta(hours=24) if reason == "key_compromise" else timedelta(days=5)
