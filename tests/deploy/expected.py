"""What the deployment must contain, shared by the template and deploy-script checks."""

from __future__ import annotations

# Built-in Azure role definitions the app's identity needs on the storage account.
ROLE_GUIDS = {
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
}
# Every app setting the app reads (local.settings.json.example) must be set in Azure too.
APP_SETTINGS = (
    "TASK_HUB_NAME",
    "APPROVAL_THRESHOLD_CENTS",
    "APPROVAL_TIMEOUT_HOURS",
    "PAYMENT_ADAPTER",
    "CARRIER_ADAPTER",
    "NOTIFICATION_ADAPTER",
    "SANDBOX_DATA_DIR",
)
