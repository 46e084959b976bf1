// The chatbox's own words, in French and English. The bot's answers come from the server.
export default (fr) =>
  fr
    ? {
        title: 'Assistant',
        fresh: 'Nouvelle conversation',
        close: 'Fermer',
        question: 'Votre question',
        placeholder: 'Posez votre question…',
        send: 'Envoyer',
        you: 'Vous :',
        bot: 'Assistant :',
        writing: 'L’assistant écrit…',
        down: 'Notre assistant est momentanément injoignable. Votre question est gardée et partira dès que possible.',
        helpful: 'Cette réponse vous a-t-elle aidé ?',
        yes: 'Oui',
        no: 'Non',
        thanks: 'Merci pour votre avis.',
        attach: 'Envoyer un fichier',
        unsent: 'Le fichier n’a pas pu être envoyé. Réessayez plus tard.',
      }
    : {
        title: 'Assistant',
        fresh: 'New conversation',
        close: 'Close',
        question: 'Your question',
        placeholder: 'Ask your question…',
        send: 'Send',
        you: 'You:',
        bot: 'Assistant:',
        writing: 'The assistant is writing…',
        down: 'Our assistant cannot be reached for a moment. Your question is kept and will be sent as soon as possible.',
        helpful: 'Was this answer helpful?',
        yes: 'Yes',
        no: 'No',
        thanks: 'Thank you for your feedback.',
        attach: 'Send a file',
        unsent: 'The file could not be sent. Please try again later.',
      }
