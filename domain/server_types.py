"""サーバタイプ: the web server software a certificate is installed on, as the application form's
pull-down and the search screen list it (the manual's 「サーバタイプ」). Its words are in the
catalogue as ``server_type_<code>``; an application may leave it unsaid ("")."""

SERVER_TYPES: tuple[str, ...] = ("apache", "nginx", "iis", "tomcat", "lighttpd", "load_balancer", "cloud", "other")


def is_server_type(value: str) -> bool:
    """Whether an application may carry ``value`` (one of the list, or nothing)."""
    return value == "" or value in SERVER_TYPES
