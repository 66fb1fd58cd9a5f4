"""API keys as the API shows them: never the secret, except once at creation."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from api.roles import Role


class NewKeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role = Field(description="What the key may do.", examples=["engineer"])
    label: str = Field(
        min_length=1,
        max_length=100,
        pattern=r"^[^\x00-\x1f\x7f-\x9f]+$",
        description="Who or what holds the key; shown in lists and the audit log. "
        "Printable text, not only spaces.",
        examples=["Jo Bloggs, network engineer"],
    )
    expires_at: AwareDatetime | None = Field(
        default=None,
        description="When the key stops working (ISO 8601 with a time zone). None: never.",
        examples=["2027-04-30T23:59:59Z"],
    )

    @field_validator("label")
    @classmethod
    def _not_blank(cls, label: str) -> str:
        if not label.strip():
            raise ValueError("say who or what holds the key")
        return label.strip()


class KeyInfo(BaseModel):
    key_id: str = Field(description="Public id of the key.", examples=["3f9a1c0b7d2e"])
    label: str = Field(examples=["Jo Bloggs, network engineer"])
    role: Role = Field(examples=["engineer"])
    created_at: datetime
    created_by: str = Field(examples=["key:0a1b2c3d4e5f (council admin)"])
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


class IssuedKeyInfo(KeyInfo):
    token: str = Field(
        description="The key itself. Shown once: wherry keeps only its hash.",
        examples=["wherry_3f9a1c0b7d2e_x1Y2z3…"],
    )
