"""The privacy policy: its version and the purposes a member consents to, defined in code.

A new version is a new `POLICY_VERSION`; a purpose added by it carries that version in
`since`, so members are asked again only for the purposes they have not decided on.
"""

from __future__ import annotations

from dataclasses import dataclass

POLICY_VERSION = "2026-11-22"


@dataclass(frozen=True)
class Purpose:
    key: str
    label: str
    description: str
    required: bool = False  # always on; a refusal is not accepted
    sensitive: bool = False  # PIPL 敏感个人信息
    separate: bool = False  # PIPL art.29 单独同意: granted on its own, never bundled
    since: str = POLICY_VERSION  # the policy version that introduced the purpose


PURPOSES: tuple[Purpose, ...] = (
    Purpose(
        "essential",
        "必要服务",
        "提供商品浏览、下单、支付、取餐与售后所必需的信息处理（登录标识、订单与支付记录），"
        "是使用基本服务的前提，无法关闭。",
        required=True,
    ),
    Purpose(
        "analytics",
        "统计分析",
        "记录浏览、点击和下单等使用情况，用于统计分析和改进服务。拒绝不影响下单。",
    ),
    Purpose(
        "personalisation",
        "个性化推荐",
        "根据您的消费和浏览记录推荐商品与优惠。拒绝后您看到的是非个性化的内容。",
    ),
    Purpose(
        "marketing",
        "营销信息",
        "通过订阅消息、短信或应用推送向您发送优惠活动和会员权益信息，可随时关闭。",
    ),
    Purpose(
        "location",
        "位置信息",
        "获取您的位置，用于推荐附近门店和判断配送范围。位置属于敏感个人信息，需要您单独同意；"
        "拒绝不影响下单，可手动选择门店。",
        sensitive=True,
        separate=True,
    ),
    Purpose(
        "phone",
        "手机号",
        "获取您的手机号，用于识别会员身份、发送订单通知和合并您在不同端的账号。拒绝不影响下单。",
    ),
    Purpose(
        "guardian",
        "监护人同意（未满十四周岁）",
        "您未满十四周岁时，我们处理您的个人信息需要您的父母或其他监护人同意。请由监护人阅读本政策后"
        "代为确认；未经监护人同意，除必要服务外我们不处理您的其他个人信息。",
        sensitive=True,
        separate=True,
    ),
    Purpose(
        "membership",
        "会员计划（支付即会员）",
        "首次支付后加入商家的会员计划，累积积分和成长值、享受会员等级权益。拒绝不影响下单和支付。",
    ),
)

BY_KEY: dict[str, Purpose] = {p.key: p for p in PURPOSES}
