"""Ready texts of manual alerts, with placeholders that staff fill in once.

Each template has a headline and a body per language. Japanese ("ja"), English ("en") and
easy Japanese ("ja-easy", やさしい日本語: short sentences, hiragana with spaces between
phrases, no honorifics) are written and checked (`REVIEWED`). The other resident languages
of `content/languages.py` are shipped marked "for review": a first version for a native
speaker of the city to check before it is relied on.

Placeholders are `{place}`, `{time}` and `{floor}`; a template says which it needs, and the
value is put in as typed, once, in every language (so staff write values every language
can read: "3F", "14:30", "East exit / 東口"). A value is never read for placeholders
itself. `free_text` has no ready text: staff write the headline and body.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from content.alerts.model import AlertText, Level

PLACEHOLDERS = ("place", "time", "floor")
EASY_JAPANESE = "ja-easy"
# Written and checked; every other language is marked for review.
REVIEWED = frozenset({"ja", "en", EASY_JAPANESE})
MAX_VALUE = 60  # characters of one placeholder value
FREE_TEXT = "free_text"

_PLACEHOLDER = re.compile(r"\{(place|time|floor)\}")


@dataclass(frozen=True)
class Phrase:
    headline: str
    body: str


@dataclass(frozen=True)
class Template:
    key: str
    level: Level  # the level offered first; staff may choose another
    needs: tuple[str, ...]  # placeholders it uses, all required
    phrases: Mapping[str, Phrase]  # language -> text

    def reviewed(self, language: str) -> bool:
        return language in REVIEWED


class MissingValue(ValueError):
    """A placeholder the template needs was left empty (`field` names it)."""

    def __init__(self, field: str) -> None:
        super().__init__(f"{field} is required by this template")
        self.field = field


def _p(headline: str, body: str) -> Phrase:
    return Phrase(headline, body)


EARTHQUAKE = Template(
    "earthquake",
    Level.SEVERE,
    ("time",),
    {
        "ja": _p(
            "地震が発生しました",
            "{time}ごろ、強い地震がありました。頭を守り、落ち着いて行動してください。"
            "係員の指示に従ってください。",
        ),
        "en": _p(
            "Earthquake",
            "A strong earthquake occurred at about {time}. Protect your head and stay calm. "
            "Follow the instructions of staff.",
        ),
        "ja-easy": _p(
            "じしんが ありました",
            "{time}ごろ おおきい じしんが ありました。あたまを まもって ください。"
            "しょくいんの いうことを きいて ください。",
        ),
        "zh-Hans": _p(
            "发生地震",
            "{time}左右发生了强烈地震。请保护头部，保持冷静，听从工作人员的指示。",
        ),
        "zh-Hant": _p(
            "發生地震",
            "{time}左右發生了強烈地震。請保護頭部，保持冷靜，聽從工作人員的指示。",
        ),
        "ko": _p(
            "지진 발생",
            "{time}경 강한 지진이 발생했습니다. "
            "머리를 보호하고 침착하게 직원의 안내에 따라 주십시오.",
        ),
        "pt": _p(
            "Terremoto",
            "Houve um forte terremoto por volta das {time}. Proteja a cabeça, mantenha a calma "
            "e siga as instruções dos funcionários.",
        ),
        "vi": _p(
            "Động đất",
            "Đã xảy ra động đất mạnh vào khoảng {time}. Hãy bảo vệ đầu, giữ bình tĩnh và làm "
            "theo hướng dẫn của nhân viên.",
        ),
        "es": _p(
            "Terremoto",
            "Hubo un fuerte terremoto hacia las {time}. Protéjase la cabeza, mantenga la calma "
            "y siga las instrucciones del personal.",
        ),
        "tl": _p(
            "Lindol",
            "Nagkaroon ng malakas na lindol bandang {time}. Protektahan ang ulo, manatiling "
            "kalmado at sundin ang mga tagubilin ng kawani.",
        ),
        "ne": _p(
            "भूकम्प",
            "{time} तिर ठूलो भूकम्प गयो। टाउको जोगाउनुहोस्, शान्त रहनुहोस् र कर्मचारीको "
            "निर्देशन पालना गर्नुहोस्।",
        ),
        "id": _p(
            "Gempa bumi",
            "Terjadi gempa kuat sekitar pukul {time}. Lindungi kepala Anda, tetap tenang, dan "
            "ikuti petunjuk petugas.",
        ),
        "th": _p(
            "แผ่นดินไหว",
            "เกิดแผ่นดินไหวรุนแรงเมื่อประมาณ {time} โปรดป้องกันศีรษะ ตั้งสติ และปฏิบัติตามคำแนะนำของเจ้าหน้าที่",
        ),
        "my": _p(
            "ငလျင်",
            "{time} ခန့်တွင် ပြင်းထန်သော ငလျင် လှုပ်ခဲ့သည်။ ခေါင်းကို ကာကွယ်ပြီး "
            "စိတ်အေးအေးထားကာ ဝန်ထမ်းများ၏ ညွှန်ကြားချက်ကို လိုက်နာပါ။",
        ),
    },
)

TSUNAMI = Template(
    "tsunami",
    Level.EXTREME,
    ("place",),
    {
        "ja": _p(
            "津波警報　すぐに避難してください",
            "津波警報が発表されました。ただちに高い所へ避難してください。避難先：{place}",
        ),
        "en": _p(
            "Tsunami warning: evacuate now",
            "A tsunami warning has been issued. Go to high ground immediately. "
            "Evacuate to: {place}",
        ),
        "ja-easy": _p(
            "つなみが きます すぐに にげて ください",
            "つなみが きます。すぐに たかい ところへ にげて ください。にげる ところ：{place}",
        ),
        "zh-Hans": _p(
            "海啸警报　请立即避难",
            "已发布海啸警报。请立即前往高处避难。避难地点：{place}",
        ),
        "zh-Hant": _p(
            "海嘯警報　請立即避難",
            "已發布海嘯警報。請立即前往高處避難。避難地點：{place}",
        ),
        "ko": _p(
            "쓰나미 경보 즉시 대피하십시오",
            "쓰나미 경보가 발령되었습니다. 즉시 높은 곳으로 대피하십시오. 대피 장소: {place}",
        ),
        "pt": _p(
            "Alerta de tsunami: evacue agora",
            "Foi emitido um alerta de tsunami. Vá imediatamente para um lugar alto. "
            "Local de evacuação: {place}",
        ),
        "vi": _p(
            "Cảnh báo sóng thần: sơ tán ngay",
            "Đã có cảnh báo sóng thần. Hãy lên chỗ cao ngay lập tức. Nơi sơ tán: {place}",
        ),
        "es": _p(
            "Alerta de tsunami: evacúe ahora",
            "Se ha emitido una alerta de tsunami. Vaya de inmediato a un lugar alto. "
            "Lugar de evacuación: {place}",
        ),
        "tl": _p(
            "Babala sa tsunami: lumikas ngayon",
            "May babala sa tsunami. Pumunta agad sa mataas na lugar. Lugar ng paglikas: {place}",
        ),
        "ne": _p(
            "सुनामी चेतावनी: तुरुन्त सुरक्षित स्थानमा जानुहोस्",
            "सुनामी चेतावनी जारी गरिएको छ। तुरुन्तै अग्लो ठाउँमा जानुहोस्। सुरक्षित स्थान: {place}",
        ),
        "id": _p(
            "Peringatan tsunami: segera mengungsi",
            "Peringatan tsunami telah dikeluarkan. Segera pergi ke tempat tinggi. "
            "Tempat evakuasi: {place}",
        ),
        "th": _p(
            "เตือนภัยสึนามิ อพยพทันที",
            "มีการประกาศเตือนภัยสึนามิ โปรดขึ้นที่สูงทันที สถานที่อพยพ: {place}",
        ),
        "my": _p(
            "ဆူနာမီ သတိပေးချက် - ချက်ချင်း ရှောင်ပါ",
            "ဆူနာမီ သတိပေးချက် ထုတ်ပြန်ထားသည်။ မြင့်သောနေရာသို့ ချက်ချင်း သွားပါ။ ရှောင်ရမည့်နေရာ - {place}",
        ),
    },
)

FIRE = Template(
    "fire",
    Level.SEVERE,
    ("floor", "place"),
    {
        "ja": _p(
            "火災が発生しました",
            "{floor}の{place}で火災が発生しました。係員の指示に従い、落ち着いて避難してください。"
            "エレベーターは使わないでください。",
        ),
        "en": _p(
            "Fire",
            "A fire has broken out on {floor} ({place}). Stay calm and evacuate as staff "
            "direct you. Do not use the elevators.",
        ),
        "ja-easy": _p(
            "かじ（火事）です",
            "{floor}の {place}で かじが おきました。しょくいんの いうことを きいて "
            "にげて ください。エレベーターは つかわないで ください。",
        ),
        "zh-Hans": _p(
            "发生火灾",
            "{floor}（{place}）发生火灾。请保持冷静，听从工作人员指示避难。请勿使用电梯。",
        ),
        "zh-Hant": _p(
            "發生火災",
            "{floor}（{place}）發生火災。請保持冷靜，聽從工作人員指示避難。請勿使用電梯。",
        ),
        "ko": _p(
            "화재 발생",
            "{floor}({place})에서 화재가 발생했습니다. 침착하게 직원의 안내에 따라 대피하십시오. "
            "엘리베이터를 사용하지 마십시오.",
        ),
        "pt": _p(
            "Incêndio",
            "Há um incêndio no andar {floor} ({place}). Mantenha a calma e saia seguindo os "
            "funcionários. Não use os elevadores.",
        ),
        "vi": _p(
            "Hỏa hoạn",
            "Có hỏa hoạn tại tầng {floor} ({place}). Hãy bình tĩnh sơ tán theo hướng dẫn của "
            "nhân viên. Không sử dụng thang máy.",
        ),
        "es": _p(
            "Incendio",
            "Hay un incendio en la planta {floor} ({place}). Mantenga la calma y evacúe "
            "según indique el personal. No use los ascensores.",
        ),
        "tl": _p(
            "Sunog",
            "May sunog sa {floor} ({place}). Manatiling kalmado at lumikas ayon sa kawani. "
            "Huwag gamitin ang elevator.",
        ),
        "ne": _p(
            "आगलागी",
            "{floor} ({place}) मा आगलागी भएको छ। शान्त रहनुहोस् र कर्मचारीको निर्देशन अनुसार "
            "बाहिर निस्कनुहोस्। लिफ्ट प्रयोग नगर्नुहोस्।",
        ),
        "id": _p(
            "Kebakaran",
            "Terjadi kebakaran di lantai {floor} ({place}). Tetap tenang dan mengungsilah "
            "sesuai arahan petugas. Jangan gunakan lift.",
        ),
        "th": _p(
            "เกิดเพลิงไหม้",
            "เกิดเพลิงไหม้ที่ชั้น {floor} ({place}) โปรดตั้งสติและอพยพตามคำแนะนำของเจ้าหน้าที่ ห้ามใช้ลิฟต์",
        ),
        "my": _p(
            "မီးလောင်မှု",
            "{floor} ({place}) တွင် မီးလောင်နေသည်။ စိတ်အေးအေးထားပြီး ဝန်ထမ်းများ ညွှန်ကြားသည့်အတိုင်း "
            "ထွက်ပါ။ ဓာတ်လှေကား မသုံးပါနှင့်။",
        ),
    },
)

EVACUATION = Template(
    "evacuation",
    Level.SEVERE,
    ("place",),
    {
        "ja": _p(
            "避難してください",
            "この建物から避難してください。係員の指示に従い、{place}へ移動してください。",
        ),
        "en": _p(
            "Evacuate the building",
            "Please leave this building. Follow the instructions of staff and go to {place}.",
        ),
        "ja-easy": _p(
            "にげて ください",
            "この たてものから でて ください。しょくいんに ついて {place}へ いって ください。",
        ),
        "zh-Hans": _p("请避难", "请离开本建筑。请听从工作人员指示，前往{place}。"),
        "zh-Hant": _p("請避難", "請離開本建築。請聽從工作人員指示，前往{place}。"),
        "ko": _p(
            "대피하십시오",
            "이 건물에서 대피하십시오. 직원의 안내에 따라 {place}(으)로 이동하십시오.",
        ),
        "pt": _p(
            "Evacue o prédio",
            "Saia deste prédio. Siga as instruções dos funcionários e vá para {place}.",
        ),
        "vi": _p(
            "Hãy sơ tán",
            "Hãy rời khỏi tòa nhà này. Làm theo hướng dẫn của nhân viên và đi đến {place}.",
        ),
        "es": _p(
            "Evacúe el edificio",
            "Salga de este edificio. Siga las instrucciones del personal y vaya a {place}.",
        ),
        "tl": _p(
            "Lumikas",
            "Lumabas sa gusaling ito. Sundin ang kawani at pumunta sa {place}.",
        ),
        "ne": _p(
            "भवन खाली गर्नुहोस्",
            "यो भवनबाट बाहिर निस्कनुहोस्। कर्मचारीको निर्देशन अनुसार {place} मा जानुहोस्।",
        ),
        "id": _p(
            "Harap mengungsi",
            "Harap tinggalkan gedung ini. Ikuti petunjuk petugas dan pergi ke {place}.",
        ),
        "th": _p(
            "โปรดอพยพ",
            "โปรดออกจากอาคารนี้ ปฏิบัติตามคำแนะนำของเจ้าหน้าที่และไปที่ {place}",
        ),
        "my": _p(
            "ဘေးလွတ်ရာသို့ ရှောင်ပါ",
            "ဤအဆောက်အအုံမှ ထွက်ပါ။ ဝန်ထမ်းများ၏ ညွှန်ကြားချက်အတိုင်း {place} သို့ သွားပါ။",
        ),
    },
)

SUSPICIOUS_PERSON = Template(
    "suspicious_person",
    Level.SEVERE,
    ("floor",),
    {
        "ja": _p(
            "不審者情報",
            "{floor}で不審な人物が確認されました。近づかず、係員の指示に従ってください。",
        ),
        "en": _p(
            "Suspicious person",
            "A suspicious person has been reported on {floor}. Keep away and follow the "
            "instructions of staff.",
        ),
        "ja-easy": _p(
            "あやしい ひとが います",
            "{floor}に あやしい ひとが います。ちかづかないで ください。"
            "しょくいんの いうことを きいて ください。",
        ),
        "zh-Hans": _p("可疑人员", "{floor}发现可疑人员。请勿靠近，并听从工作人员的指示。"),
        "zh-Hant": _p("可疑人員", "{floor}發現可疑人員。請勿靠近，並聽從工作人員的指示。"),
        "ko": _p(
            "수상한 사람",
            "{floor}에서 수상한 사람이 확인되었습니다. 가까이 가지 말고 직원의 안내에 따르십시오.",
        ),
        "pt": _p(
            "Pessoa suspeita",
            "Foi vista uma pessoa suspeita no andar {floor}. Não se aproxime e siga as "
            "instruções dos funcionários.",
        ),
        "vi": _p(
            "Người khả nghi",
            "Có người khả nghi tại tầng {floor}. "
            "Không đến gần và làm theo hướng dẫn của nhân viên.",
        ),
        "es": _p(
            "Persona sospechosa",
            "Se ha visto a una persona sospechosa en la planta {floor}. No se acerque y siga "
            "las instrucciones del personal.",
        ),
        "tl": _p(
            "Kahina-hinalang tao",
            "May kahina-hinalang tao sa {floor}. Huwag lumapit at sundin ang kawani.",
        ),
        "ne": _p(
            "शंकास्पद व्यक्ति",
            "{floor} मा शंकास्पद व्यक्ति देखिएको छ। नजिक नजानुहोस् र कर्मचारीको निर्देशन मान्नुहोस्।",
        ),
        "id": _p(
            "Orang mencurigakan",
            "Ada orang mencurigakan di lantai {floor}. Jangan mendekat dan ikuti petunjuk petugas.",
        ),
        "th": _p(
            "บุคคลน่าสงสัย",
            "พบบุคคลน่าสงสัยที่ชั้น {floor} โปรดอย่าเข้าใกล้และปฏิบัติตามคำแนะนำของเจ้าหน้าที่",
        ),
        "my": _p(
            "သံသယဖြစ်ဖွယ် လူ",
            "{floor} တွင် သံသယဖြစ်ဖွယ် လူတစ်ဦး တွေ့ရှိထားသည်။ မချဉ်းကပ်ပါနှင့်။ ဝန်ထမ်းများ၏ ညွှန်ကြားချက်ကို လိုက်နာပါ။",
        ),
    },
)

SYSTEM_OUTAGE = Template(
    "system_outage",
    Level.MODERATE,
    ("time",),
    {
        "ja": _p(
            "システム障害のお知らせ",
            "システム障害のため、一部の手続きができません。{time}ごろ復旧の見込みです。"
            "ご迷惑をおかけして申し訳ありません。",
        ),
        "en": _p(
            "System outage",
            "Because of a system outage, some services are not available. We expect them "
            "back at about {time}. We apologise for the inconvenience.",
        ),
        "ja-easy": _p(
            "コンピューターが とまって います",
            "いま いくつかの てつづきが できません。{time}ごろ なおる よていです。ごめんなさい。",
        ),
        "zh-Hans": _p(
            "系统故障",
            "由于系统故障，部分手续暂时无法办理。预计{time}左右恢复。给您带来不便，敬请谅解。",
        ),
        "zh-Hant": _p(
            "系統故障",
            "由於系統故障，部分手續暫時無法辦理。預計{time}左右恢復。造成不便，敬請見諒。",
        ),
        "ko": _p(
            "시스템 장애",
            "시스템 장애로 일부 업무를 처리할 수 없습니다. "
            "{time}경 복구될 예정입니다. 불편을 드려 죄송합니다.",
        ),
        "pt": _p(
            "Falha no sistema",
            "Devido a uma falha no sistema, alguns serviços não estão disponíveis. "
            "Previsão de retorno: por volta das {time}. Pedimos desculpas.",
        ),
        "vi": _p(
            "Sự cố hệ thống",
            "Do sự cố hệ thống, một số thủ tục tạm thời không thể thực hiện. Dự kiến khôi "
            "phục vào khoảng {time}. Xin lỗi vì sự bất tiện.",
        ),
        "es": _p(
            "Fallo del sistema",
            "Por un fallo del sistema, algunos trámites no están disponibles. Se espera "
            "restablecerlos hacia las {time}. Disculpe las molestias.",
        ),
        "tl": _p(
            "Sira ang sistema",
            "Dahil sa sira ng sistema, may ilang serbisyong hindi magagamit. Inaasahang "
            "maaayos bandang {time}. Paumanhin po.",
        ),
        "ne": _p(
            "प्रणालीमा समस्या",
            "प्रणालीमा समस्याका कारण केही सेवा उपलब्ध छैनन्। {time} तिर सुचारु हुने अपेक्षा छ। "
            "असुविधाका लागि क्षमा चाहन्छौं।",
        ),
        "id": _p(
            "Gangguan sistem",
            "Karena gangguan sistem, beberapa layanan tidak tersedia. Diperkirakan pulih "
            "sekitar pukul {time}. Mohon maaf atas ketidaknyamanannya.",
        ),
        "th": _p(
            "ระบบขัดข้อง",
            "เนื่องจากระบบขัดข้อง บางบริการไม่สามารถใช้ได้ คาดว่าจะกลับมาใช้ได้ประมาณ {time} "
            "ขออภัยในความไม่สะดวก",
        ),
        "my": _p(
            "စနစ် ချို့ယွင်းမှု",
            "စနစ် ချို့ယွင်းမှုကြောင့် ဝန်ဆောင်မှုအချို့ ရယူ၍ မရပါ။ {time} ခန့်တွင် "
            "ပြန်လည်ရရှိရန် မျှော်လင့်ပါသည်။ အဆင်မပြေမှုအတွက် တောင်းပန်ပါသည်။",
        ),
    },
)

# Staff write the headline and body of a free text themselves (see `free_text`).
FREE = Template(FREE_TEXT, Level.MODERATE, (), {})

TEMPLATES: dict[str, Template] = {
    t.key: t
    for t in (EARTHQUAKE, TSUNAMI, FIRE, EVACUATION, SUSPICIOUS_PERSON, SYSTEM_OUTAGE, FREE)
}


def _put(text: str, values: Mapping[str, str]) -> str:
    # One pass: a value that itself contains "{place}" stays as typed.
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), text)


def clean_values(template: Template, values: Mapping[str, str]) -> dict[str, str]:
    """The placeholder values the template needs, stripped; MissingValue names an empty one,
    ValueError a value that is too long."""
    cleaned: dict[str, str] = {}
    for name in template.needs:
        value = " ".join(str(values.get(name, "")).split())
        if not value:
            raise MissingValue(name)
        if len(value) > MAX_VALUE:
            raise ValueError(f"{name} is longer than {MAX_VALUE} characters")
        cleaned[name] = value
    return cleaned


def order_languages(languages: Sequence[str]) -> list[str]:
    """Japanese, easy Japanese and English first (in that order), then the others as given."""
    first = [code for code in ("ja", EASY_JAPANESE, "en") if code in languages]
    return first + [code for code in languages if code not in first]


def fill(
    template: Template,
    values: Mapping[str, str],
    languages: Sequence[str],
    edited: Mapping[str, Phrase] | None = None,
) -> tuple[AlertText, ...]:
    """The alert's texts in `languages` (those the template has), placeholders filled once.

    `edited`: an administrator's versions of this template's phrases (language -> phrase),
    used instead of the shipped ones.
    """
    cleaned = clean_values(template, values)
    phrases = {**template.phrases, **(edited or {})}
    texts = []
    for language in order_languages(languages):
        phrase = phrases.get(language)
        if phrase is not None:
            texts.append(
                AlertText(language, _put(phrase.headline, cleaned), _put(phrase.body, cleaned))
            )
    return tuple(texts)


def free_text(texts: Mapping[str, tuple[str, str]]) -> tuple[AlertText, ...]:
    """Staff's own headline and body per language (empty ones left out)."""
    out = []
    for language in order_languages(list(texts)):
        headline, body = texts[language]
        headline, body = " ".join(headline.split()), body.strip()
        if headline or body:
            out.append(AlertText(language, headline, body))
    return tuple(out)
