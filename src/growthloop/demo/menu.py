"""The demo tea shop's menu, members' platforms and the seeded randomness they share."""

from __future__ import annotations

import random

from growthloop.catalog.models import Product
from growthloop.catalog.schemas import OptionGroupIn

DEMO_NAME = "示例茶饮"
DEMO_EMAIL = "demo@growthloop.local"
DEMO_PASSWORD = "growthloop-demo"  # noqa: S105 - the demo's published credentials
PARTNER_NAME = "示例烘焙"  # the alliance partner: a bakery whose members overlap the shop's
PARTNER_EMAIL = "bakery@growthloop.local"
MEMBERS = 2000
DAYS = 90
SEED = 20261122

SUGAR = OptionGroupIn(name="糖度", values=["七分糖", "无糖", "三分糖", "五分糖", "全糖"])
ICE = OptionGroupIn(name="温度", values=["少冰", "正常冰", "去冰", "温热"])
HOT_ONLY = OptionGroupIn(name="温度", values=["热", "温"])
SIZE = OptionGroupIn(
    name="杯型", values=["中杯", "大杯", "超大杯"], price_deltas={"大杯": 300, "超大杯": 500}
)
TOPPING = OptionGroupIn(
    name="加料",
    values=["不加料", "珍珠", "椰果", "芋圆"],
    price_deltas={"珍珠": 200, "椰果": 200, "芋圆": 300},
)
DRINK = [SUGAR, ICE, SIZE]

MENU: list[tuple[str, str, int, list[OptionGroupIn], float]] = [
    # name, category, price (fen), options, popularity weight
    ("招牌珍珠奶茶", "奶茶", 1500, [*DRINK, TOPPING], 10),
    ("芋泥波波奶茶", "奶茶", 1800, DRINK, 7),
    ("黑糖鹿丸鲜奶", "奶茶", 1900, [ICE, SIZE], 6),
    ("多肉葡萄", "果茶", 1900, DRINK, 8),
    ("满杯红柚", "果茶", 1700, DRINK, 6),
    ("杨枝甘露", "果茶", 1900, [ICE, SIZE], 6),
    ("芝芝莓莓", "果茶", 2100, DRINK, 5),
    ("柠檬绿茶", "纯茶", 1000, DRINK, 5),
    ("茉莉清茶", "纯茶", 900, [SUGAR, ICE], 3),
    ("四季春轻乳茶", "纯茶", 1400, DRINK, 4),
    ("生椰拿铁", "咖啡", 1800, [SUGAR, ICE], 5),
    ("美式咖啡", "咖啡", 1200, [HOT_ONLY], 3),
    ("蛋挞（2只）", "小食", 1000, [], 3),
    ("鸡米花", "小食", 1200, [], 2),
    ("芝士薯条", "小食", 1300, [], 2),
]

PLATFORMS = [("wechat", 0.62), ("alipay", 0.14), ("douyin", 0.14), ("app", 0.10)]


def pick_options(rng: random.Random, product: Product) -> tuple[dict[str, str], int]:
    values, delta = {}, 0
    for group in product.options:
        weights = [4 if i == 0 else 1 for i in range(len(group["values"]))]
        value = rng.choices(group["values"], weights)[0]
        values[group["name"]] = value["name"]
        delta += value["price_delta"]
    return values, delta


def poisson(rng: random.Random, lam: float) -> int:
    """Knuth's method; lam is small here."""
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, lam**0.5)))
    limit, k, p = pow(2.718281828459045, -lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


# The programme the membership article describes: 1 yuan = 1 point; 白银 at 200 yuan spent or
# 10 login days; 黄金 at 1,000 yuan spent or 3 invited friends.
