from growthloop.core.errors import Conflict, Invalid, NotFound


class UnknownPurpose(Invalid):
    code = "unknown_purpose"
    message = "The privacy policy has no such purpose."


class EssentialNotRefusable(Invalid):
    code = "essential_not_refusable"
    message = "The essential purpose is needed to provide the service and cannot be refused."


class SeparateConsentRequired(Invalid):
    code = "separate_consent_required"
    message = "This purpose needs separate consent: grant it in a request of its own."


class NoPurposes(Invalid):
    code = "no_purposes"
    message = "Name at least one purpose."


class NoDeletionPending(Conflict):
    code = "no_deletion_pending"
    message = "There is no pending deletion request to cancel."


class GuardianConsentRequired(Invalid):
    code = "guardian_consent_required"
    message = (
        "The member is under 14: a parent or guardian must consent (purpose `guardian`) "
        "before any other purpose is granted."
    )


class UnknownMerchant(NotFound):
    code = "merchant_not_found"
    message = "No merchant has this id."
