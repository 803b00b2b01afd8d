from growthloop.core.errors import Conflict, Invalid, NotFound


class ProductNotFound(NotFound):
    code = "product_not_found"
    message = "No product has this id."


class CategoryNotFound(NotFound):
    code = "category_not_found"
    message = "No category has this id."


class ProductOffSale(Conflict):
    code = "product_off_sale"
    message = "This product is not on sale."


class SoldOut(Conflict):
    code = "sold_out"
    message = "Not enough stock left."


class UnknownOption(Invalid):
    code = "unknown_option"
    message = "The product has no such option group or value."


class OptionRequired(Invalid):
    code = "option_required"
    message = "A required option was not chosen."


class InvalidOptions(Invalid):
    code = "invalid_options"
    message = "The option groups are not valid."


class CategoryExists(Conflict):
    code = "category_exists"
    message = "A category with this name already exists."
