# ruff: noqa: E501  (messages read better whole than split)
"""Words the end users of the login certificate service read (pages, JSON errors), ja and en.

Kept apart from the portal's and desk's words; ``api.i18n`` merges them into one table.
"""

END_USER_MESSAGES: dict[str, dict[str, str]] = {
    "ja": {
        "eu_err_otp_wrong": "ワンタイムパスワードに誤りがあります。正しいワンタイムパスワードを入力してください。（あと{left}回間違えるとロックされます）",
        "eu_err_otp_locked": "ワンタイムパスワードを規定回数以上間違えたため、ロックされました。ご利用の Web サイトへお問い合わせください。",
        "eu_err_expired": "有効期限が切れています。ご利用の Web サイトへお問い合わせください。",
        "eu_err_replaced": "この URL は新しいご案内に置き換えられました。新しいご案内の URL をご利用ください。",
        "eu_err_not_found": "この URL は無効です。ご案内の URL をご確認ください。",
        "eu_err_state": "この操作は現在行えません。",
        "eu_err_question": "秘密の質問を一覧から選択してください。",
        "eu_err_answer": "秘密の質問答えを入力してください（64文字以内）。",
        "eu_err_answer_wrong": "入力された秘密の質問答えが一致しません。（あと{left}回間違えるとロックされます）",
        "eu_err_answer_locked": "秘密の質問の答えを規定回数以上間違えて入力したため、ロックされました。ロック解除が必要になりますので、ご利用の Web サイト運営会社サポート窓口へご連絡ください。",
        "eu_err_rejected": "この再発行手続きは終了しました。ご利用の Web サイト運営会社サポート窓口へご連絡ください。",
        "eu_err_download_wrong": "証明書ダウンロード用パスワードに誤りがあります。（あと{left}回間違えるとロックされます）",
        "eu_err_download_locked": "証明書ダウンロード用パスワードを規定回数以上間違えたため、ダウンロードできなくなりました。ご利用の Web サイトへお問い合わせください。",
        "eu_err_downloaded": "この電子証明書はすでにダウンロードされています。",
        "eu_err_download_expired": "ダウンロードの有効期限が切れています。ご利用の Web サイトへお問い合わせください。",
        "eu_err_not_ready": "電子証明書を発行中です。しばらくしてから、もう一度お試しください。",
        "eu_err_unavailable": "ただいま処理できません。しばらくしてから、もう一度お試しください。",
    },
    "en": {
        "eu_err_otp_wrong": "The one-time password is not correct. Please enter the correct one-time password ({left} tries left before it locks).",
        "eu_err_otp_locked": "Too many wrong one-time passwords: the registration is locked. Please contact your website.",
        "eu_err_expired": "This link has expired. Please contact your website.",
        "eu_err_replaced": "This link was replaced by a newer invitation. Please use the newest one.",
        "eu_err_not_found": "This link is not valid. Please check the URL you were sent.",
        "eu_err_state": "This step is not possible now.",
        "eu_err_question": "Choose a secret question from the list.",
        "eu_err_answer": "Enter the answer to the secret question (up to 64 characters).",
        "eu_err_answer_wrong": "The answer does not match the one you registered ({left} tries left before it locks).",
        "eu_err_answer_locked": "Too many wrong answers: the reissue is locked. Please contact your website's support desk to unlock it.",
        "eu_err_rejected": "This reissue has been closed. Please contact your website's support desk.",
        "eu_err_download_wrong": "The download password is not correct ({left} tries left before it locks).",
        "eu_err_download_locked": "Too many wrong download passwords: the certificate can no longer be downloaded. Please contact your website.",
        "eu_err_downloaded": "This certificate has already been downloaded.",
        "eu_err_download_expired": "The download period has ended. Please contact your website.",
        "eu_err_not_ready": "Your certificate is being issued. Please try again in a moment.",
        "eu_err_unavailable": "This cannot be done right now. Please try again in a moment.",
    },
}
