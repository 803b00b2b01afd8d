"""An import-linter contract written as an allow-list: outside a domain, only its public
modules may be imported.

`domains` are packages (identity, campaigns.flash_sales, ...). A module outside a domain
may import from it only the modules named in `public` (its service, schemas, errors and
events); `composers` (the wiring, the app, the CLI, the demo) may import anything, as
they put the domains together. A new internal module is private by default: nobody has
to remember to add it to a list.
"""

from __future__ import annotations

import grimp
from importlinter import Contract, ContractCheck, fields, output


def _owner(module: str, domains: list[str]) -> str | None:
    """The innermost domain `module` belongs to."""
    found = None
    for domain in domains:
        inside = module == domain or module.startswith(domain + ".")
        if inside and (found is None or len(domain) > len(found)):
            found = domain
    return found


class AllowListContract(Contract):
    type_name = "allow_list"

    domains = fields.ListField(subfield=fields.StringField())
    public = fields.ListField(subfield=fields.StringField())
    composers = fields.ListField(subfield=fields.StringField())

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        domains: list[str] = list(self.domains)  # type: ignore[call-overload]
        public = set(self.public)  # type: ignore[call-overload]
        composers: list[str] = list(self.composers)  # type: ignore[call-overload]
        broken: list[dict[str, object]] = []
        for importer in sorted(graph.modules):
            if any(importer == c or importer.startswith(c + ".") for c in composers):
                continue
            home = _owner(importer, domains)
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                owner = _owner(imported, domains)
                if owner is None or owner == home:
                    continue
                if home is not None and home.startswith(owner + "."):
                    continue  # a sub-domain uses its parent's shared kit (campaigns.windows)
                rest = imported[len(owner) + 1 :] if imported != owner else ""
                if rest == "" or rest.split(".")[0] in public:
                    continue
                lines = [
                    d["line_number"]
                    for d in graph.get_import_details(importer=importer, imported=imported)
                ]
                broken.append({"importer": importer, "imported": imported, "lines": lines})
        return ContractCheck(kept=not broken, metadata={"broken": broken})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for item in check.metadata["broken"]:
            output.print_error(
                f"{item['importer']} -> {item['imported']} (l.{item['lines']}): "
                "not a public module of its domain",
                bold=False,
            )
            output.new_line()
