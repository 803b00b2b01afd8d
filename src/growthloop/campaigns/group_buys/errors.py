from growthloop.core.errors import Conflict, NotFound


class GroupBuyNotFound(NotFound):
    code = "group_buy_not_found"
    message = "No group buy has this id."


class GroupNotFound(NotFound):
    code = "group_not_found"
    message = "No group has this id."


class GroupNotForming(Conflict):
    code = "group_not_forming"
    message = "This group has already succeeded, failed or expired."


class GroupFull(Conflict):
    code = "group_full"
    message = "This group already has all its members."


class AlreadyInGroup(Conflict):
    code = "already_in_group"
    message = "You are already in this group."


class AlreadyEnded(Conflict):
    code = "group_buy_ended"
    message = "This group buy has already ended."
