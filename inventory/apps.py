from __future__ import annotations

from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "inventory"
    verbose_name = "Inventory"

    def ready(self) -> None:
        # inventory owns the mirror's items, purchases (vendors, bills, purchase orders
        # and vendor credits: what sell-in is counted from) and inventory adjustments (the
        # stock ledger's other movements), and matches the items to the
        # catalog once a sync has committed; sync finds both through common.mirror,
        # without importing inventory.
        from common import mirror

        from .channels import services as channels
        from .mapping import services as mapping
        from .mapping.mirror import ITEM
        from .purchasing import services as purchasing
        from .purchasing.mirror import SPECS as PURCHASING
        from .stock.mirror import INVENTORY_ADJUSTMENT

        mirror.register(ITEM)
        for spec in PURCHASING:
            mirror.register(spec)
        mirror.register(INVENTORY_ADJUSTMENT)
        mirror.register_after_sync(
            mirror.AfterSync(
                "SKU mapping",
                # Looked up at each call, so the service can be replaced in a test.
                lambda connection_id: mapping.mapping_refresh(connection_id=connection_id),
            )
        )
        # Registered after the SKU mapping, so that the hooks run in that order: the last
        # rule for finding Une Femme's vendor counts bill lines for mapped items, and must
        # see the mappings the sync just made.
        mirror.register_after_sync(
            mirror.AfterSync(
                "Une Femme vendor",
                lambda connection_id: purchasing.une_femme_vendor_detect(
                    connection_id=connection_id
                ),
            )
        )
        # Customer type names, once an import has stored every page, through the import's
        # own client so its run counts the request (polls leave them to the nightly job;
        # docs/reports.md, "Channels").
        mirror.register_after_import(
            mirror.AfterImport(
                "Customer types",
                lambda connection_id, client: channels.customer_types_refresh(
                    connection_id=connection_id, client=client
                ),
            )
        )
