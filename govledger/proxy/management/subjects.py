"""/api/subjects/forget: erase a subject's personal data by destroying its key
(`subjects:delete`, Admin only). The subject is in the body, never in a URL."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from govledger.compliance.erasure import ErasureNotRecordedError, forget
from govledger.ledger.personal import SubjectRef
from govledger.proxy.management import schemas
from govledger.proxy.management.auth import Principal, management, require
from govledger.proxy.management.errors import ApiError, JSONResponse


class ForgetBody(BaseModel):
    """The subject to erase: a personal header's value as it was sent (e.g. a user id)."""

    model_config = ConfigDict(extra="forbid")
    subject: str = Field(min_length=1, max_length=1024)


class Forgotten(schemas.Shown):
    """An erasure as recorded: the subject's reference, never its value."""

    ref: str
    keys_destroyed: int


def router() -> APIRouter:
    """The subjects' endpoint."""
    api = APIRouter(prefix="/api/subjects", tags=["subjects"])

    @api.post("/forget", responses=schemas.ok(Forgotten))
    async def forget_subject(
        request: Request, body: ForgetBody, who: Principal = require("subjects:delete")
    ) -> Response:
        """Destroy the subject's key and record `SubjectErased`; from then on every view,
        report and export shows its values as `erased`. Idempotent."""
        service = management(request)
        ring = service.runtime.subjects
        append = service.runtime.governance.append
        now = service.clock()
        try:
            event = await asyncio.to_thread(
                forget, ring, append, body.subject, who.actor, who.source, now
            )
        except ErasureNotRecordedError as error:
            raise ApiError(503, "erasure_not_recorded", str(error)) from None
        service.runtime.governance.erase(SubjectRef(event.ref))  # read-your-writes here
        return JSONResponse({"ref": event.ref, "keys_destroyed": event.keys_destroyed})

    return api
