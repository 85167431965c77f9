"""Customer photos: checked, re-encoded without metadata, stored, sent with the
customer's message, shown by signed URL, and given to the model as image input."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from PIL import Image, PngImagePlugin

from apps.chat import frames, services
from apps.chat.models import Attachment, Message
from tests import fake_openai as fake

SCRIPT = b"<script>alert(document.cookie)</script>"


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def jpeg(size: tuple[int, int] = (640, 480), **save: Any) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 80, 40)).save(out, "JPEG", **save)
    return out.getvalue()


def jpeg_with_script_in_exif() -> bytes:
    exif = Image.Exif()
    exif[0x010E] = SCRIPT.decode()  # ImageDescription
    exif[0x8825] = {2: (37.0, 46.0, 30.0), 1: "N"}  # GPS position
    return jpeg(exif=exif.tobytes(), comment=SCRIPT)


def png_with_script_in_text_chunk() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Description", SCRIPT.decode())
    out = io.BytesIO()
    Image.new("RGBA", (300, 200), (0, 120, 200, 128)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def upload(client: Client, conversation: tuple[str, str], data: bytes, name: str = "p.jpg"):
    conversation_id, token = conversation
    file = io.BytesIO(data)
    file.name = name
    return client.post(
        f"/api/conversations/{conversation_id}/photos/",
        {"photo": file},
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


@pytest.fixture
def conversation(db: None) -> tuple[str, str]:
    created, token = services.do_create_conversation()
    return str(created.pk), token


def test_a_photo_is_stored_re_encoded_without_its_metadata(client, conversation):
    response = upload(client, conversation, jpeg_with_script_in_exif())
    assert response.status_code == 201
    body = response.json()
    stored = Attachment.objects.get(pk=body["attachment_id"])
    data = stored.file.read()
    assert SCRIPT not in data and b"Exif" not in data
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG" and image.size == (640, 480)
        assert not image.getexif() and "comment" not in image.info
    assert (body["width"], body["height"]) == (640, 480)


def test_a_script_in_a_png_text_chunk_is_dropped_and_transparency_flattened(client, conversation):
    response = upload(client, conversation, png_with_script_in_text_chunk(), "p.png")
    assert response.status_code == 201
    data = Attachment.objects.get().file.read()
    assert SCRIPT not in data and b"Description" not in data
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG" and image.mode == "RGB"


def test_a_large_photo_is_scaled_down(client, conversation):
    response = upload(client, conversation, jpeg((4000, 1000)))
    assert (response.json()["width"], response.json()["height"]) == (2048, 512)


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"%PDF-1.4 not a photo at all", "invoice.jpg"),
        (b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", "x.svg"),
    ],
)
def test_a_file_that_is_not_a_photo_is_refused_with_a_clear_error(client, conversation, data, name):
    response = upload(client, conversation, data, name)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "photo_type"
    assert "JPEG, PNG, WebP or GIF" in response.json()["error"]["message"]
    assert not Attachment.objects.exists()


def test_an_image_of_another_type_is_refused(client, conversation):
    out = io.BytesIO()
    Image.new("RGB", (10, 10)).save(out, "BMP")
    response = upload(client, conversation, out.getvalue(), "p.bmp")
    assert response.status_code == 400 and response.json()["error"]["code"] == "photo_type"


def test_an_oversize_photo_is_refused(client, conversation, settings):
    settings.SUPPORTBOT_MAX_PHOTO_BYTES = 20_000
    big = jpeg((1500, 1500), quality=100)
    assert len(big) > 20_000
    response = upload(client, conversation, big)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "photo_too_large"
    assert not Attachment.objects.exists()


def test_a_photo_claiming_a_huge_canvas_is_refused_before_decoding(client, conversation):
    out = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(out, "PNG")  # a few KB, 100 megapixels
    response = upload(client, conversation, out.getvalue(), "bomb.png")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "photo_too_large"


def test_a_corrupt_photo_is_refused(client, conversation):
    data = jpeg((800, 600))
    response = upload(client, conversation, data[: len(data) // 2])
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "photo_unreadable"
    assert not Attachment.objects.exists()


def test_only_the_conversation_s_own_secret_may_upload(client, conversation):
    conversation_id, _ = conversation
    assert upload(client, (conversation_id, "wrong"), jpeg()).status_code == 403
    response = client.post(f"/api/conversations/{conversation_id}/photos/", {})
    assert response.status_code == 403


def test_the_photo_is_served_only_by_its_signed_url_as_an_inert_image(client, conversation):
    body = upload(client, conversation, jpeg()).json()
    response = Client().get(body["url"])
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert Client().get(body["url"].rstrip("/") + "x/").status_code == 404
    assert Client().get(f"/attachments/{body['attachment_id']}/").status_code == 404


def test_a_message_sends_the_uploaded_photo_once_and_only_in_its_own_chat(client, conversation):
    conversation_id, token = conversation
    attachment_id = uuid.UUID(
        upload(client, (conversation_id, token), jpeg()).json()["attachment_id"]
    )
    other, _ = services.do_create_conversation()
    with pytest.raises(services.ChatError):
        services.do_store_customer_message(
            other.pk, client_id=uuid.uuid4(), text="", attachment_id=attachment_id
        )
    client_id = uuid.uuid4()
    message, created = services.do_store_customer_message(
        conversation_id,
        client_id=client_id,
        text="It arrived broken",
        attachment_id=attachment_id,
    )
    assert created and Attachment.objects.get().message == message
    frame = frames.message_frame(message)
    assert frame["attachment"]["url"] == Attachment.objects.get().signed_url()
    with pytest.raises(services.ChatError):  # a second message can't reuse it
        services.do_store_customer_message(
            conversation_id, client_id=uuid.uuid4(), text="", attachment_id=attachment_id
        )
    # the same frame sent again (a drop before its echo) is the first message, not an error
    again, created = services.do_store_customer_message(
        conversation_id,
        client_id=client_id,
        text="It arrived broken",
        attachment_id=attachment_id,
    )
    assert (again, created) == (message, False)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_offline_assistant_acknowledges_a_photo_and_offers_a_person(chat):
    socket = await chat()
    conversation = (socket.conversation_id, socket.token)
    response = await database_sync_to_async(upload)(Client(), conversation, jpeg())
    attachment_id = response.json()["attachment_id"]
    await socket.send(
        {
            "type": "message",
            "client_id": str(uuid.uuid4()),
            "text": "",
            "attachment_id": attachment_id,
        }
    )
    echo = await socket.receive_until(lambda f: f["type"] == "message")
    assert echo[-1]["attachment"]["id"] == attachment_id
    reply = await socket.reply()
    assert "photo" in reply["text"] and "person" in reply["text"]
    await socket.say("yes please")
    handoff = await socket.receive_until(lambda f: f["type"] == "handoff")
    assert handoff[-1]["state"] == "queued"


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_model_gets_the_photo_as_image_input_with_the_turn(chat, fake_openai, settings):
    settings.SUPPORTBOT_MODEL_SCREEN = False
    fake_openai.script(fake.text("I can see the crack in the lamp shade. Let me help."))
    socket = await chat()
    response = await database_sync_to_async(upload)(
        Client(), (socket.conversation_id, socket.token), jpeg((1600, 1200))
    )
    await socket.send(
        {
            "type": "message",
            "client_id": str(uuid.uuid4()),
            "text": "My lamp arrived like this",
            "attachment_id": response.json()["attachment_id"],
        }
    )
    reply = await socket.reply()
    assert reply["text"].startswith("I can see the crack")
    [request] = fake_openai.requests
    content = request["messages"][-2]["content"]  # the last one is the session state
    assert content[0] == {"type": "text", "text": "My lamp arrived like this"}
    image = content[1]
    assert image["type"] == "image_url" and image["image_url"]["detail"] == "low"
    assert image["image_url"]["url"].startswith("data:image/jpeg;base64,")
    message = await database_sync_to_async(Message.objects.get)(role="customer")
    assert message.metadata["attachment"]["width"] == 1600
