"""The privacy notice, rendered from the data map: what is collected, why, on what basis and
for how long, straight from the columns' declarations (`col(..., pii=Personal(...))`) and
the event store's. A column added without a declaration fails the data-map test; one added
with it appears here by itself.

Also the fields the platforms' privacy guides ask for (WeChat 《小程序用户隐私保护指引》,
Alipay and Douyin have the same shape): each kind of personal information a mini-program
API collects, and its purpose.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from growthloop.compliance.policy import BY_KEY, POLICY_VERSION
from growthloop.core.models import Base, Category, Personal, Retention, pii_of

CATEGORY_LABELS = {
    Category.IDENTIFIER: "账号与设备标识",
    Category.CONTACT: "联系方式",
    Category.LOCATION: "位置信息",
    Category.FINANCIAL: "支付信息",
    Category.SENSITIVE: "敏感个人信息",
    Category.PROFILE: "个人资料",
    Category.CREDENTIAL: "登录凭证",
}
BASIS_LABELS = {
    "contract": "履行合同所必需",
    "consent": "您的同意",
    "legal_obligation": "履行法定义务",
}
# What the platforms' privacy guides list, by the mini-program API that collects it, and
# the policy purpose that explains it.
PLATFORM_GUIDE = (
    ("手机号", "getPhoneNumber", "phone"),
    ("位置信息", "getLocation / chooseLocation", "location"),
    ("昵称、头像", 'chooseAvatar / <input type="nickname">', "essential"),
    ("订单与支付记录", "requestPayment", "essential"),
    ("浏览和点击记录", "统计 SDK 埋点", "analytics"),
)


# Personal data that is not the members': the staff accounts and the shop's own contact.
NOT_MEMBERS_TABLES = frozenset({"admin_users", "merchants"})


def _declared_columns(extra: dict[str, Personal] | None = None) -> list[tuple[str, Personal]]:
    found = []
    for table in Base.metadata.sorted_tables:
        if table.name in NOT_MEMBERS_TABLES:
            continue
        for column in table.columns:
            declared = pii_of(column)
            if isinstance(declared, Personal):
                found.append((f"{table.name}.{column.name}", declared))
    for name, declared in (extra or {}).items():
        found.append((name, declared))
    return found


def render(extra: dict[str, Personal] | None = None, merchant: str | None = None) -> dict[str, Any]:
    """The notice, in Chinese: items grouped by what is held and why, with the fields behind
    each. `merchant` names the shop the member deals with (个人信息处理者)."""
    groups: dict[tuple[Category, str, str, Retention], list[str]] = defaultdict(list)
    english: dict[str, str] = {}
    for name, p in _declared_columns(extra):
        groups[(p.category, p.purpose_zh, p.basis, p.retention)].append(name)
        english.setdefault(p.purpose_zh, p.purpose)
    items = [
        {
            "category": category.value,
            "category_label": CATEGORY_LABELS[category],
            "purpose": purpose,
            "purpose_en": english[purpose],
            "basis": basis,
            "basis_label": BASIS_LABELS[basis],
            "retention": retention.zh,
            "retention_code": retention.name.lower(),
            "fields": sorted(fields),
        }
        for (category, purpose, basis, retention), fields in sorted(groups.items())
    ]
    guide = [
        {
            "information": label,
            "api": api,
            "purpose": BY_KEY[purpose].description,
            "consent": BY_KEY[purpose].key,
            "separate_consent": BY_KEY[purpose].separate,
        }
        for label, api, purpose in PLATFORM_GUIDE
    ]
    who = f"{merchant}（以下简称“我们”）" if merchant else "我们"
    lines = [f"隐私政策（版本 {POLICY_VERSION}）：{who}在您使用小程序时收集以下个人信息。"]
    for item in items:
        lines.append(
            f"· {item['category_label']}（{len(item['fields'])} 项）：用于{item['purpose']}；"
            f"依据：{item['basis_label']}；保存期限：{item['retention']}。"
        )
    lines.append("您可以随时导出您的数据、撤回同意或注销账号；注销后您的个人信息将被删除。")
    return {
        "policy_version": POLICY_VERSION,
        "merchant": merchant,
        "items": items,
        "platform_guide": guide,
        "text": "\n".join(lines),
    }
