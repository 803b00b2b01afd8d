from growthloop.core.errors import Conflict, Invalid, NotFound, TooManyRequests, Unauthenticated


class MerchantNotFound(NotFound):
    code = "merchant_not_found"
    message = "No merchant has this id."


class InvalidCredentials(Unauthenticated):
    code = "invalid_credentials"
    message = "The email or password is wrong."


class EmailTaken(Conflict):
    code = "email_taken"
    message = "An admin with this email already exists."


class PlatformNotEnabled(Invalid):
    code = "platform_not_enabled"
    message = "This login platform is not enabled for this service."


class InvalidLoginCode(Unauthenticated):
    code = "invalid_login_code"
    message = "The platform rejected the login code."


class LoginRateLimited(TooManyRequests):
    code = "login_rate_limited"
    message = "Too many login attempts; try again in a minute."


class InvalidTimezone(Invalid):
    code = "invalid_timezone"
    message = "Unknown IANA timezone."


class MemberNotFound(NotFound):
    code = "member_not_found"
    message = "No member has this id."


class BirthdayAlreadySet(Conflict):
    code = "birthday_already_set"
    message = "Your birthday is already set; ask the store to correct it."


class InvalidBirthday(Invalid):
    code = "invalid_birthday"
    message = "A birthday is a past date, from 1900-01-01 on."


class InvalidPhoneCode(Invalid):
    code = "invalid_phone_code"
    message = "The platform did not verify a phone number for this code."
