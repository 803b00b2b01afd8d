from growthloop.core.errors import NotFound


class ShareNotFound(NotFound):
    code = "share_not_found"
    message = "No share has this code."
