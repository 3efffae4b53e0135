def label(item: str) -> str:
    return f"pkgapp:{item}"
