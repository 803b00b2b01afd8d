"""Distribution (分销): promoters earn on what the members they bring pay; two levels at most."""
